//! `codex_usage` connector: turns Codex log events into usage metrics, in the same process.
//!
//! Place in the flow: a logs pipeline lists the connector among its exporters, a metrics
//! pipeline among its receivers (as Collector connectors are wired). After the logs pipeline's
//! processors ran (so `team`/`project` tags and `cost.usd` are already on the records), the
//! pipeline hands each request to [`CodexUsage::consume_logs`], which aggregates the Codex
//! events it recognises and returns a metrics request for the downstream pipelines:
//!
//! | event | metric | point attributes |
//! | --- | --- | --- |
//! | `codex.sse_event`, `event.kind` = `response.completed`, or `codex.ingest.token_usage` (from `ingest`) | `codex_tokens` (sum, `{token}`) | `token_type` = `input`, `cached_input`, `output`, `reasoning_output` (Codex's own vocabulary of `codex.turn.token_usage`) |
//! | same, or `codex.turn_cost` (Codex's reported turn cost), with a `cost.usd` attribute (from the `cost` processor) | `codex_cost_usd` (sum, `USD`, double) | `cost_source` = the record's `cost.source` (`price_table` when absent, or `reported`) |
//! | both cost sources in one stream (cumulative only) | `codex_cost_reconciliation_usd` (non-monotonic sum, `USD`) | — : reported − price table, over the stream's dimensions |
//! | `codex.tool_result` | `codex_tool_calls` (sum) and `codex_tool_duration` (histogram, `ms`) | `tool_name`, `success` |
//! | `codex.api_request` | `codex_api_requests` (sum) | `http.response.status_code`, `error` (`true` when the status is ≥ 400 or `error.message` is set) |
//! | `codex.tool_decision` | `codex_tool_decisions` (sum) | `tool_name`, `decision`, `source` |
//! | `codex.gateway.alert` (from `codex_anomaly`) | `codex_alerts` (sum) | `kind` |
//!
//! Every point also carries `model` and the configured `dimensions` (default `team`, `project`;
//! looked up on the record, then on its resource), and `conversation.id` when enabled (off by
//! default: one series per conversation). Output resources copy the input resource (so
//! `service.name` and the team tags stay where the Codex client's own metrics have them).
//!
//! Temporality: `cumulative` (default) keeps a running total per stream (resource attributes +
//! metric + point attributes, each attribute list in a canonical order, so a client listing its
//! resource attributes in another order continues the same stream), bounded by `max_streams`
//! (new streams over the bound are counted as `streams_over_limit` and left out) and forgotten
//! after `max_stale` without updates; each request yields the current totals of the streams it
//! touched, with the time the gateway first saw the stream as start time. `delta` emits what
//! this request added. Counts are exact integers. Works for clients that send no metrics at all
//! (older `codex exec`): only logs are read.
//!
//! Retries (`dedup`, on by default): a record is identified by its conversation id, event time
//! (`event.timestamp`, else its time fields), event name, the per-event ids Codex sends
//! ([`DEDUP_ID_KEYS`]) and the points it yields. A record seen again within `dedup.window` (a
//! client resending a body after a time-out) is not counted again (`duplicates_skipped{label=
//! <event>}`); at most `dedup.max_entries` identities are kept, the oldest forgotten first
//! (`dedup_evicted{label=overflow}`; `dedup_evicted{label=expired}` when the window passed).
//! Records without a conversation id or a time are always counted (`dedup_unkeyed`).
//!
//! Continuity: the state is shared with the connector that replaces this one at a config reload
//! ([`CodexUsageConfig::build_continuing`]), so totals go on across `SIGHUP`; with `storage` the
//! gateway writes it ([`CodexUsage::snapshot`]) to `<directory>/<connector id>.json` every
//! `storage.interval` and at shutdown, and reads it back at start ([`CodexUsage::restore`]), so
//! totals (and their start times) survive a restart. Without `storage` a restart starts every
//! stream over, with a new start time (a counter reset, as backends expect).

use crate::codex_event::{bool_attr, event_name, int_attr, is_response_completed, kv, str_attr};
use crate::delta_to_cumulative::{push_attrs, push_bytes};
use crate::units::deserialize_duration;
use crate::{find_attr, BuildError, ProcessContext};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;
use state::{State, Stream, Value};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod state;
pub use state::{UsageSnapshot, SNAPSHOT_VERSION};

/// Event name of the usage records `codex-otel-gateway ingest` makes from session files; they
/// carry the same `*_token_count` attributes as `response.completed` and are counted alike.
pub const INGESTED_USAGE: &str = "codex.ingest.token_usage";

/// Name of the instrumentation scope of every metric the connector emits.
pub const SCOPE_NAME: &str = "codex-otel-gateway/codex_usage";

/// Metric names emitted by the connector.
pub mod names {
    /// Tokens by `token_type` and model.
    pub const TOKENS: &str = "codex_tokens";
    /// USD spent, summed from the `cost.usd` attribute the `cost` processor sets.
    pub const COST: &str = "codex_cost_usd";
    /// Tool calls by tool and success.
    pub const TOOL_CALLS: &str = "codex_tool_calls";
    /// Tool call duration histogram (ms) by tool and success.
    pub const TOOL_DURATION: &str = "codex_tool_duration";
    /// Model API requests by status code, with an error flag.
    pub const API_REQUESTS: &str = "codex_api_requests";
    /// Tool approval decisions by decision and source.
    pub const TOOL_DECISIONS: &str = "codex_tool_decisions";
    /// Alerts raised by the `codex_anomaly` processor, by kind.
    pub const ALERTS: &str = "codex_alerts";
    /// Codex's reported cost minus the price-table cost, per stream (USD).
    pub const COST_RECONCILIATION: &str = "codex_cost_reconciliation_usd";
}

/// Per-event identifiers Codex puts on the records the connector counts (`event.kind` of
/// `codex.sse_event`, `call_id` and `tool_result_seq` of tool events, `attempt` of
/// `codex.api_request`, `turn.id` of `codex.turn_cost`): part of a record's identity for the
/// retry window, next to its conversation id, event time and event name.
pub const DEDUP_ID_KEYS: &[&str] = &[
    "event.kind",
    "call_id",
    "tool_result_seq",
    "attempt",
    "turn.id",
    "alert.kind",
];

/// Event name of Codex's reported turn cost (0.171.0; see the `cost` processor).
pub const TURN_COST: &str = "codex.turn_cost";

/// Point attribute of `codex_cost_usd` naming where the cost came from.
pub const COST_SOURCE: &str = "cost_source";

/// Aggregation temporality of the emitted sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Running totals per stream (what Prometheus-style backends need).
    #[default]
    Cumulative,
    /// What each request added.
    Delta,
}

/// `connectors: codex_usage[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodexUsageConfig {
    /// Attribute keys copied onto every point, looked up on the record first, then on its
    /// resource (where the `team` processor puts its tags by default). Absent keys are left out.
    pub dimensions: Vec<String>,
    /// Adds `conversation.id` to every point. Off by default: one series per conversation.
    pub conversation_id: bool,
    /// `cumulative` (default) or `delta`.
    pub aggregation_temporality: Temporality,
    /// Explicit bucket bounds of `codex_tool_duration`, in milliseconds, ascending.
    pub duration_buckets_ms: Vec<f64>,
    /// Most streams kept (cumulative only); new streams beyond it are counted and left out.
    pub max_streams: usize,
    /// A stream without updates for this long is forgotten (cumulative only; a later update
    /// starts it again from zero with a new start time).
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_stale: Duration,
    /// The retry window: records seen again within it are not counted twice.
    pub dedup: DedupConfig,
    /// Where the state is kept across restarts. Default: nowhere (a restart resets the totals).
    pub storage: Option<UsageStorageConfig>,
}

/// `dedup:` of the `codex_usage` connector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Whether records seen again are skipped. Default: `true`.
    pub enabled: bool,
    /// How long a counted record is remembered (a duration string, more than zero). Default:
    /// `10m` (Codex's OTLP exporter gives up on a request long before).
    #[serde(deserialize_with = "deserialize_duration")]
    pub window: Duration,
    /// Most records remembered; the oldest are forgotten first (counted). At least 1.
    /// Default: `100000`.
    pub max_entries: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            enabled: true,
            window: Duration::from_secs(600),
            max_entries: 100_000,
        }
    }
}

/// `storage:` of the `codex_usage` connector: a folder the gateway keeps the state in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageStorageConfig {
    /// The folder (created at start); the state is `<directory>/<connector id>.json`. Required.
    pub directory: String,
    /// How often the state is written (also at shutdown). Default: `10s`.
    #[serde(
        default = "default_store_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub interval: Duration,
}

fn default_store_interval() -> Duration {
    Duration::from_secs(10)
}

impl Default for CodexUsageConfig {
    fn default() -> Self {
        CodexUsageConfig {
            dimensions: vec!["team".into(), "project".into()],
            conversation_id: false,
            aggregation_temporality: Temporality::Cumulative,
            duration_buckets_ms: vec![
                5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
                30_000.0, 60_000.0, 120_000.0, 300_000.0,
            ],
            max_streams: 10_000,
            max_stale: Duration::from_secs(3600),
            dedup: DedupConfig::default(),
            storage: None,
        }
    }
}

impl CodexUsageConfig {
    /// Checks the config and builds the connector.
    pub fn build(&self) -> Result<CodexUsage, Vec<BuildError>> {
        let mut errors = Vec::new();
        for (i, d) in self.dimensions.iter().enumerate() {
            if d.is_empty() {
                errors.push(BuildError::field(format!("dimensions[{i}]"), "empty key"));
            } else if RESERVED.contains(&d.as_str()) {
                errors.push(BuildError::field(
                    format!("dimensions[{i}]"),
                    format!("{d:?} is set by the connector itself"),
                ));
            }
        }
        let b = &self.duration_buckets_ms;
        if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
            errors.push(BuildError::field(
                "duration_buckets_ms",
                "bounds must be finite and strictly ascending",
            ));
        }
        if self.max_streams == 0 {
            errors.push(BuildError::field("max_streams", "must be at least 1"));
        }
        if self.max_stale.is_zero() {
            errors.push(BuildError::field("max_stale", "must be more than zero"));
        }
        if self.dedup.window.is_zero() {
            errors.push(BuildError::field("dedup.window", "must be more than zero"));
        }
        if self.dedup.max_entries == 0 {
            errors.push(BuildError::field("dedup.max_entries", "must be at least 1"));
        }
        if let Some(st) = &self.storage {
            if st.directory.trim().is_empty() {
                errors.push(BuildError::field("storage.directory", "must not be empty"));
            }
            if st.interval.is_zero() {
                errors.push(BuildError::field(
                    "storage.interval",
                    "must be more than zero",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CodexUsage {
            cfg: self.clone(),
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    /// [`CodexUsageConfig::build`] for a config reload: the new connector shares `previous`'s
    /// state (running totals, retry window), so nothing restarts from zero and a request the old
    /// pipelines are still handling is counted once, in the same totals.
    pub fn build_continuing(
        &self,
        previous: Option<&CodexUsage>,
    ) -> Result<CodexUsage, Vec<BuildError>> {
        let mut built = self.build()?;
        if let Some(p) = previous {
            built.state = Arc::clone(&p.state);
        }
        Ok(built)
    }
}

/// Point attribute keys the connector sets itself.
const RESERVED: &[&str] = &[
    "model",
    "token_type",
    "tool_name",
    "success",
    "http.response.status_code",
    "error",
    "decision",
    "source",
    "kind",
    "conversation.id",
    COST_SOURCE,
];

/// The built connector. Thread-safe; the running totals sit behind one mutex, shared with the
/// connector a config reload builds ([`CodexUsageConfig::build_continuing`]).
#[derive(Debug)]
pub struct CodexUsage {
    cfg: CodexUsageConfig,
    state: Arc<Mutex<State>>,
}

/// How often stale streams and expired retry-window entries are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Which metric a point belongs to (index into [`METRICS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tokens,
    Cost,
    ToolCalls,
    ToolDuration,
    ApiRequests,
    ToolDecisions,
    Alerts,
    CostReconciliation,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tokens => names::TOKENS,
            Kind::Cost => names::COST,
            Kind::ToolCalls => names::TOOL_CALLS,
            Kind::ToolDuration => names::TOOL_DURATION,
            Kind::ApiRequests => names::API_REQUESTS,
            Kind::ToolDecisions => names::TOOL_DECISIONS,
            Kind::Alerts => names::ALERTS,
            Kind::CostReconciliation => names::COST_RECONCILIATION,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Kind::Tokens => "{token}",
            Kind::Cost => "USD",
            Kind::ToolCalls => "{call}",
            Kind::ToolDuration => "ms",
            Kind::ApiRequests => "{request}",
            Kind::ToolDecisions => "{decision}",
            Kind::Alerts => "{alert}",
            Kind::CostReconciliation => "USD",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Tokens => "Tokens used by Codex, from response.completed events",
            Kind::Cost => "USD spent by Codex: priced by the gateway's cost processor (cost_source=price_table) or as Codex reported it (cost_source=reported)",
            Kind::ToolCalls => "Codex tool calls",
            Kind::ToolDuration => "Codex tool call duration",
            Kind::ApiRequests => "Codex model API requests",
            Kind::ToolDecisions => "Codex tool approval decisions",
            Kind::Alerts => "Alerts raised by the gateway's codex_anomaly processor",
            Kind::CostReconciliation => {
                "Codex's reported cost minus the gateway's price-table cost, running totals"
            }
        }
    }
}

/// One aggregated point of this request, before it meets the running totals.
struct Pending {
    kind: Kind,
    resource: usize,
    attrs: Vec<KeyValue>,
    value: Value,
    start: u64,
    key: Vec<u8>,
}

/// Builds a point's attributes (model, the given extras, dimensions) for one record.
type PointAttributes<'a> = dyn Fn(&[(&str, AnyValue)]) -> Vec<KeyValue> + 'a;

/// A resource of the request and its canonical key.
type Resources<'a> = Vec<(Option<&'a Resource>, Vec<u8>)>;

/// The wall clock in ns since the epoch.
impl CodexUsage {
    /// Aggregates the Codex events in `req` into a metrics request (`None` when it held none).
    /// Streams over `max_streams` are counted in `cx` as `streams_over_limit`, records seen
    /// again as `duplicates_skipped`.
    pub fn consume_logs(
        &self,
        req: &ExportLogsServiceRequest,
        cx: &mut ProcessContext<'_>,
    ) -> Option<ExportMetricsServiceRequest> {
        self.consume_logs_at(req, cx, crate::clock::unix_nanos(), Instant::now())
    }

    /// [`CodexUsage::consume_logs`] at a given time (tests).
    pub fn consume_logs_at(
        &self,
        req: &ExportLogsServiceRequest,
        cx: &mut ProcessContext<'_>,
        now_unix: u64,
        now: Instant,
    ) -> Option<ExportMetricsServiceRequest> {
        let resources: Resources<'_> = req
            .resource_logs
            .iter()
            .map(|rl| {
                let r = rl.resource.as_ref();
                (r, resource_key(r))
            })
            .collect();
        let mut guard = self.lock();
        let state = &mut *guard;
        self.sweep(state, now, cx);
        let mut pending = self.collect(req, &resources, state, now, now_unix, cx);
        if pending.is_empty() {
            return None;
        }
        if self.cfg.aggregation_temporality == Temporality::Cumulative {
            pending = self.accumulate(pending, state, now, now_unix, cx);
            let reconciled = self.reconcile(&pending, state, &resources);
            pending.extend(reconciled);
        }
        drop(guard);
        Some(self.assemble(pending, &resources, now_unix))
    }

    /// Forgets stale streams and expired retry-window entries, at most once per second.
    fn sweep(&self, state: &mut State, now: Instant, cx: &mut ProcessContext<'_>) {
        if state
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_INTERVAL)
        {
            return;
        }
        let stale = self.cfg.max_stale;
        state
            .streams
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < stale);
        let expired = state.recent.expire(now, self.cfg.dedup.window);
        if expired > 0 {
            cx.count("dedup_evicted", "expired", expired);
        }
        state.last_sweep = Some(now);
    }

    /// The points of every record not seen before, aggregated per stream.
    fn collect(
        &self,
        req: &ExportLogsServiceRequest,
        resources: &Resources<'_>,
        state: &mut State,
        now: Instant,
        now_unix: u64,
        cx: &mut ProcessContext<'_>,
    ) -> Vec<Pending> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        for (ridx, rl) in req.resource_logs.iter().enumerate() {
            let (resource, rkey) = &resources[ridx];
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                let points = self.points_of(record, *resource);
                if points.is_empty() || self.seen_before(record, &points, state, now, cx) {
                    continue;
                }
                for (kind, attrs, value) in points {
                    let key = stream_key(kind, rkey, &attrs);
                    match index.get(&key) {
                        Some(&i) => pending[i].value.add(&value),
                        None => {
                            index.insert(key.clone(), pending.len());
                            pending.push(Pending {
                                kind,
                                resource: ridx,
                                attrs,
                                value,
                                start: now_unix,
                                key,
                            });
                        }
                    }
                }
            }
        }
        pending
    }

    /// Whether `record` was counted within the retry window (then it is counted in `cx`);
    /// otherwise it is remembered.
    fn seen_before(
        &self,
        record: &LogRecord,
        points: &[(Kind, Vec<KeyValue>, Value)],
        state: &mut State,
        now: Instant,
        cx: &mut ProcessContext<'_>,
    ) -> bool {
        if !self.cfg.dedup.enabled {
            return false;
        }
        let Some(id) = record_identity(record, points) else {
            cx.count("dedup_unkeyed", event_name(record), 1);
            return false;
        };
        let (dup, evicted) = state.recent.check(id, now, self.cfg.dedup.max_entries);
        if evicted > 0 {
            cx.count("dedup_evicted", "overflow", evicted);
        }
        if dup {
            cx.count("duplicates_skipped", event_name(record), 1);
        }
        dup
    }

    /// Adds this request's points to the running totals; each point becomes its stream's total.
    fn accumulate(
        &self,
        pending: Vec<Pending>,
        state: &mut State,
        now: Instant,
        now_unix: u64,
        cx: &mut ProcessContext<'_>,
    ) -> Vec<Pending> {
        let streams = &mut state.streams;
        let mut kept = Vec::with_capacity(pending.len());
        for mut p in pending {
            let full = streams.len() >= self.cfg.max_streams;
            match streams.get_mut(&p.key) {
                Some(s) => {
                    s.value.add(&p.value);
                    s.last_seen = now;
                    p.value = s.value.clone();
                    p.start = s.start;
                }
                None if full => {
                    cx.count("streams_over_limit", p.kind.name(), 1);
                    continue;
                }
                None => {
                    streams.insert(
                        p.key.clone(),
                        Stream {
                            start: now_unix,
                            last_seen: now,
                            value: p.value.clone(),
                        },
                    );
                }
            }
            kept.push(p);
        }
        kept
    }

    /// `codex_cost_reconciliation_usd` points for the cost streams of `pending` whose other
    /// source has a running total too: reported − price table.
    fn reconcile(
        &self,
        pending: &[Pending],
        state: &State,
        resources: &Resources<'_>,
    ) -> Vec<Pending> {
        let mut out = Vec::new();
        let mut done: HashSet<Vec<u8>> = HashSet::new();
        for p in pending.iter().filter(|p| p.kind == Kind::Cost) {
            let base: Vec<KeyValue> = p
                .attrs
                .iter()
                .filter(|kv| kv.key != COST_SOURCE)
                .cloned()
                .collect();
            let rkey = &resources[p.resource].1;
            let sibling = |source: &str| {
                let mut attrs = base.clone();
                attrs.push(string_kv(COST_SOURCE, source));
                state.streams.get(&stream_key(Kind::Cost, rkey, &attrs))
            };
            let (Some(reported), Some(priced)) = (sibling(REPORTED), sibling(PRICE_TABLE)) else {
                continue;
            };
            let key = stream_key(Kind::CostReconciliation, rkey, &base);
            let (Some(r), Some(t)) = (reported.value.as_f64(), priced.value.as_f64()) else {
                continue;
            };
            if done.insert(key.clone()) {
                out.push(Pending {
                    kind: Kind::CostReconciliation,
                    resource: p.resource,
                    attrs: base,
                    value: Value::Double(r - t),
                    start: reported.start.min(priced.start),
                    key,
                });
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of cumulative streams held.
    pub fn stream_count(&self) -> usize {
        self.lock().streams.len()
    }

    /// Number of records remembered for the retry window.
    pub fn recent_count(&self) -> usize {
        self.lock().recent.len()
    }

    /// The state as of now, for a store.
    pub fn snapshot(&self) -> UsageSnapshot {
        self.lock()
            .snapshot(Instant::now(), crate::clock::unix_nanos())
    }

    /// Replaces the state with `snap` (read from a store at start); `Err` says what is wrong
    /// with it and leaves the state as it was.
    pub fn restore(&self, snap: &UsageSnapshot) -> Result<(), String> {
        let restored = State::restore(snap, Instant::now(), crate::clock::unix_nanos())?;
        *self.lock() = restored;
        Ok(())
    }

    /// The `storage` config, if any.
    pub fn storage(&self) -> Option<&UsageStorageConfig> {
        self.cfg.storage.as_ref()
    }

    /// The attributes of a point of `record`: its model, `extra`, the configured dimensions
    /// (from the record, else its resource) and, when configured, the conversation id.
    fn point_attributes(
        &self,
        attrs: &[KeyValue],
        resource: Option<&Resource>,
        extra: &[(&str, AnyValue)],
    ) -> Vec<KeyValue> {
        let mut kv: Vec<KeyValue> = Vec::with_capacity(extra.len() + 4);
        if let Some(m) = str_attr(attrs, "model") {
            kv.push(string_kv("model", m));
        }
        for (k, v) in extra {
            kv.push(KeyValue {
                key: (*k).to_string(),
                value: Some(v.clone()),
                ..Default::default()
            });
        }
        for d in &self.cfg.dimensions {
            let v =
                find_attr(attrs, d).or_else(|| resource.and_then(|r| find_attr(&r.attributes, d)));
            if let Some(v) = v {
                kv.push(KeyValue {
                    key: d.clone(),
                    value: Some(AnyValue {
                        value: Some(v.clone()),
                    }),
                    ..Default::default()
                });
            }
        }
        if self.cfg.conversation_id {
            if let Some(c) = str_attr(attrs, "conversation.id") {
                kv.push(string_kv("conversation.id", c));
            }
        }
        kv
    }

    /// The points one record contributes.
    fn points_of(
        &self,
        record: &LogRecord,
        resource: Option<&Resource>,
    ) -> Vec<(Kind, Vec<KeyValue>, Value)> {
        let attrs = &record.attributes;
        let event = event_name(record);
        let base = |extra: &[(&str, AnyValue)]| self.point_attributes(attrs, resource, extra);
        let one = |kind: Kind, extra: &[(&str, AnyValue)]| vec![(kind, base(extra), Value::Int(1))];
        let text = |k: &str| string_value(str_attr(attrs, k).unwrap_or(""));
        match event {
            _ if is_response_completed(record) || event == INGESTED_USAGE => {
                let mut out = self.token_points(attrs, &base);
                out.extend(self.cost_point(attrs, &base));
                out
            }
            TURN_COST => self.cost_point(attrs, &base).into_iter().collect(),
            "codex.tool_result" => self.tool_points(attrs, &base),
            "codex.api_request" => {
                let status = int_attr(attrs, "http.response.status_code").unwrap_or(0);
                let error = status >= 400 || find_attr(attrs, "error.message").is_some();
                let status = AnyValue {
                    value: Some(any_value::Value::IntValue(status)),
                };
                let error = string_value(if error { "true" } else { "false" });
                one(
                    Kind::ApiRequests,
                    &[("http.response.status_code", status), ("error", error)],
                )
            }
            "codex.tool_decision" => one(
                Kind::ToolDecisions,
                &[
                    ("tool_name", text("tool_name")),
                    ("decision", text("decision")),
                    ("source", text("source")),
                ],
            ),
            "codex.gateway.alert" => one(Kind::Alerts, &[("kind", text("alert.kind"))]),
            _ => Vec::new(),
        }
    }

    /// The token points of a `response.completed` (or ingested usage) record, one per type.
    fn token_points(
        &self,
        attrs: &[KeyValue],
        base: &PointAttributes<'_>,
    ) -> Vec<(Kind, Vec<KeyValue>, Value)> {
        [
            ("input_token_count", "input"),
            ("cached_token_count", "cached_input"),
            ("output_token_count", "output"),
            ("reasoning_token_count", "reasoning_output"),
        ]
        .into_iter()
        .filter_map(|(key, ty)| {
            let n = int_attr(attrs, key)?;
            Some((
                Kind::Tokens,
                base(&[("token_type", string_value(ty))]),
                Value::Int(n),
            ))
        })
        .collect()
    }

    /// The call (and duration, when known) points of a `codex.tool_result` record.
    fn tool_points(
        &self,
        attrs: &[KeyValue],
        base: &PointAttributes<'_>,
    ) -> Vec<(Kind, Vec<KeyValue>, Value)> {
        let tool = string_value(str_attr(attrs, "tool_name").unwrap_or(""));
        let success = string_value(match bool_attr(attrs, "success") {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        });
        let dims = base(&[("tool_name", tool), ("success", success)]);
        let mut out = Vec::with_capacity(2);
        if let Some(ms) = int_attr(attrs, "duration_ms") {
            out.push((
                Kind::ToolDuration,
                dims.clone(),
                self.histogram_of(ms as f64),
            ));
        }
        out.push((Kind::ToolCalls, dims, Value::Int(1)));
        out
    }

    /// The `codex_cost_usd` point of a record carrying `cost.usd`, labelled by `cost.source`.
    fn cost_point(
        &self,
        attrs: &[KeyValue],
        base: &PointAttributes<'_>,
    ) -> Option<(Kind, Vec<KeyValue>, Value)> {
        let c = double_attr(attrs, "cost.usd")?;
        let source = match str_attr(attrs, "cost.source") {
            Some(REPORTED) => REPORTED,
            _ => PRICE_TABLE,
        };
        Some((
            Kind::Cost,
            base(&[(COST_SOURCE, string_value(source))]),
            Value::Double(c),
        ))
    }

    fn histogram_of(&self, x: f64) -> Value {
        let bounds = &self.cfg.duration_buckets_ms;
        let mut buckets = vec![0u64; bounds.len() + 1];
        // OTLP explicit buckets are upper-inclusive: bucket i holds (bounds[i-1], bounds[i]].
        let i = bounds.partition_point(|b| *b < x);
        if let Some(b) = buckets.get_mut(i) {
            *b = 1;
        }
        Value::Hist {
            count: 1,
            sum: x,
            min: x,
            max: x,
            buckets,
        }
    }

    fn assemble(
        &self,
        mut pending: Vec<Pending>,
        resources: &[(Option<&Resource>, Vec<u8>)],
        now_unix: u64,
    ) -> ExportMetricsServiceRequest {
        pending.sort_by_key(|p| (p.resource, p.kind));
        let temporality = match self.cfg.aggregation_temporality {
            Temporality::Cumulative => AggregationTemporality::Cumulative,
            Temporality::Delta => AggregationTemporality::Delta,
        } as i32;
        let mut out: Vec<ResourceMetrics> = Vec::new();
        let mut current: Option<usize> = None;
        for p in pending {
            if current != Some(p.resource) {
                current = Some(p.resource);
                out.push(ResourceMetrics {
                    resource: resources[p.resource].0.cloned(),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: SCOPE_NAME.to_string(),
                            version: env!("CARGO_PKG_VERSION").to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            let Some(metrics) = out
                .last_mut()
                .and_then(|r| r.scope_metrics.first_mut())
                .map(|s| &mut s.metrics)
            else {
                continue;
            };
            if metrics.last().map(|m| m.name.as_str()) != Some(p.kind.name()) {
                metrics.push(self.empty_metric(p.kind, temporality));
            }
            let Some(metric) = metrics.last_mut() else {
                continue;
            };
            self.push_point(metric, p.attrs, p.start, now_unix, p.value);
        }
        ExportMetricsServiceRequest {
            resource_metrics: out,
        }
    }

    /// Appends one point to `metric` (a sum takes numbers, a histogram a histogram value).
    fn push_point(
        &self,
        metric: &mut Metric,
        attributes: Vec<KeyValue>,
        start: u64,
        now_unix: u64,
        value: Value,
    ) {
        match (&mut metric.data, value) {
            (Some(metric::Data::Sum(s)), v @ (Value::Int(_) | Value::Double(_))) => {
                s.data_points.push(NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: now_unix,
                    value: match v {
                        Value::Double(x) => Some(number_data_point::Value::AsDouble(x)),
                        Value::Int(n) => Some(number_data_point::Value::AsInt(n)),
                        Value::Hist { .. } => None,
                    },
                    ..Default::default()
                })
            }
            (
                Some(metric::Data::Histogram(h)),
                Value::Hist {
                    count,
                    sum,
                    min,
                    max,
                    buckets,
                },
            ) => h.data_points.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: now_unix,
                count,
                sum: Some(sum),
                min: Some(min),
                max: Some(max),
                bucket_counts: buckets,
                explicit_bounds: self.cfg.duration_buckets_ms.clone(),
                ..Default::default()
            }),
            _ => {}
        }
    }

    fn empty_metric(&self, kind: Kind, temporality: i32) -> Metric {
        let data = match kind {
            Kind::ToolDuration => metric::Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
            }),
            _ => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
                // The difference of two totals can go down.
                is_monotonic: kind != Kind::CostReconciliation,
            }),
        };
        Metric {
            name: kind.name().to_string(),
            description: kind.description().to_string(),
            unit: kind.unit().to_string(),
            data: Some(data),
            ..Default::default()
        }
    }
}

/// The canonical key of a resource: its attributes in key order (see [`push_attrs`]).
fn resource_key(r: Option<&Resource>) -> Vec<u8> {
    let mut key = Vec::with_capacity(256);
    push_attrs(&mut key, r.map_or(&[][..], |r| &r.attributes));
    key
}

/// Identity of a stream: metric, canonical resource key and point attributes in key order, so
/// neither the resource's nor the points' attribute order splits a stream.
fn stream_key(kind: Kind, resource: &[u8], attrs: &[KeyValue]) -> Vec<u8> {
    let mut key = Vec::with_capacity(resource.len() + 128);
    key.push(kind as u8);
    push_bytes(&mut key, resource);
    push_attrs(&mut key, attrs);
    key
}

/// `cost_source` of Codex's own reported cost.
pub const REPORTED: &str = "reported";
/// `cost_source` of a cost priced from the `cost` processor's table (and the default).
pub const PRICE_TABLE: &str = "price_table";

/// A record's identity for the retry window: its event name, conversation id, event time,
/// per-event ids ([`DEDUP_ID_KEYS`]) and the points it yields, as a 128-bit hash. `None`
/// without a conversation id or a time.
fn record_identity(record: &LogRecord, points: &[(Kind, Vec<KeyValue>, Value)]) -> Option<u128> {
    let attrs = &record.attributes;
    let conversation = str_attr(attrs, "conversation.id")?;
    let time = match str_attr(attrs, "event.timestamp") {
        Some(t) => t.to_string(),
        None => record_time(record)?.to_string(),
    };
    let mut halves = [0u64; 2];
    for (seed, half) in halves.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (seed as u8, event_name(record), conversation, &time).hash(&mut h);
        for k in DEDUP_ID_KEYS {
            let v = find_attr(attrs, k).map(|v| format!("{v:?}"));
            (k, v).hash(&mut h);
        }
        for (kind, point_attrs, value) in points {
            (*kind as u8).hash(&mut h);
            let mut canonical = Vec::new();
            push_attrs(&mut canonical, point_attrs);
            canonical.hash(&mut h);
            hash_value(value, &mut h);
        }
        *half = h.finish();
    }
    Some((u128::from(halves[0]) << 64) | u128::from(halves[1]))
}

/// Hashes a point value (its `Debug` form: exact for the floats, which are printed round-trip).
fn hash_value(v: &Value, h: &mut impl Hasher) {
    format!("{v:?}").hash(h);
}

fn record_time(r: &LogRecord) -> Option<u64> {
    [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0)
}

fn double_attr(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find_attr(attrs, key)? {
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::IntValue(n) => Some(*n as f64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|d| d.is_finite())
}

fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

fn string_kv(key: &str, s: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(s.to_string()))
}

#[cfg(test)]
mod tests;
