//! `codex` processor: a normaliser for what Codex CLI 0.169.0 actually sends.
//!
//! Place in the flow: put it **first** in every Codex pipeline, before `redaction`, `team`,
//! `filter` and the metric transforms, so that every later processor (and every backend) sees
//! clean, typed telemetry. It never drops items; it only rewrites fields and attribute values.
//!
//! What it fixes (measured on `tests/fixtures`, Codex 0.169.0), each fix optional and on by
//! default, each counted as `codex_fixes{label=<fix>}`:
//!
//! | fix | what Codex sends | what leaves the processor |
//! | --- | --- | --- |
//! | `log_timestamps` | every log record has `time_unix_nano = 0`; the time is in the attribute `event.timestamp` as RFC 3339 UTC with milliseconds (`2026-11-21T04:48:07.441Z`) | `time_unix_nano` from `event.timestamp`, else `observed_time_unix_nano` |
//! | `dedupe_attributes` | spans carry `thread.id` twice: first an integer (the OS thread number, added by tracing-opentelemetry), then a string (Codex's conversation thread id, a UUID) | one `thread.id`, by default the **last** (see [`DedupeKeep`]) |
//! | `numeric_strings` | numbers and booleans as strings: `duration_ms`, `prompt_length`, `input_token_count`, `output_token_count`, `tool_token_count` on logs, `item_count`, `environment_count`, ... on spans, `success = "true"` on logs and metric points | integers (or doubles) and booleans |
//! | `event_name` | the LogRecord `event_name` field holds a tracing call site (`event otel/src/events/session_telemetry.rs:1089`); the real name is the attribute `event.name` (`codex.sse_event`) | `event_name` = the `event.name` attribute (the attribute is kept by default) |
//!
//! Logs get every fix; spans (and their events and links) and metric data points get
//! `dedupe_attributes` and `numeric_strings`; resource and scope attributes get
//! `dedupe_attributes` only.
//!
//! ```yaml
//! codex:
//!   log_timestamps: true            # or { enabled: true, attribute: event.timestamp }
//!   dedupe_attributes: { enabled: true, keep: last }
//!   numeric_strings:
//!     enabled: true
//!     extra_number_keys: [status]   # added to the built-in list
//!     extra_bool_keys: []
//!   event_name: { enabled: true, attribute: event.name, keep_attribute: true }
//! ```
//!
//! Every fix also accepts a bare `true` / `false` instead of its map.

use crate::filter::literal::{bytes_eq, StrMap};
use crate::logs_view::{find_view_attr, KvView, LogsView, RecordView, Val, ValueView};
use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use regex::Regex;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

/// Number-valued attribute keys converted by default (`*` matches any run of characters).
///
/// All of them were seen as numeric strings in Codex 0.169.0 telemetry; identifiers that happen
/// to be numeric (`rpc.request_id`, `app_server.connection_id`) are deliberately left out.
pub const DEFAULT_NUMBER_KEYS: &[&str] = &[
    "duration_ms",
    "prompt_length",
    "*_token_count",
    "*_count",
    "max_total",
    "catalog_entries",
];

/// Boolean-valued attribute keys converted by default (`*` matches any run of characters).
///
/// `success` is the one the logs carry as a string; the others are metric point attributes
/// Codex 0.169.0 sends as `"true"` / `"false"`.
pub const DEFAULT_BOOL_KEYS: &[&str] = &[
    "success",
    "is_*",
    "has_*",
    "*_truncated",
    "*_enabled",
    "tty",
    "active",
    "read_allowed",
    "config_use_memories",
    "incremental_tools",
];

/// Config of the `codex` processor. Every fix is on by default; `codex: {}` is the usual config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodexConfig {
    /// Fill in log timestamps Codex leaves at 0. Default: on.
    #[serde(deserialize_with = "bool_or_map")]
    pub log_timestamps: LogTimestampsConfig,
    /// Keep one attribute per key where Codex sends a key twice. Default: on, keep the last.
    #[serde(deserialize_with = "bool_or_map")]
    pub dedupe_attributes: DedupeConfig,
    /// Turn numeric and boolean strings under known keys into typed values. Default: on.
    #[serde(deserialize_with = "bool_or_map")]
    pub numeric_strings: NumericStringsConfig,
    /// Copy the `event.name` attribute into the LogRecord `event_name` field. Default: on.
    #[serde(deserialize_with = "bool_or_map")]
    pub event_name: EventNameConfig,
}

/// `log_timestamps` fix: a log record with `time_unix_nano = 0` gets the time of its
/// `attribute` (an RFC 3339 string), or else its `observed_time_unix_nano`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogTimestampsConfig {
    /// Whether the fix runs. Default: `true`.
    pub enabled: bool,
    /// Attribute holding the event time as RFC 3339 (`2026-11-21T04:48:07.441Z`).
    /// Default: `event.timestamp`.
    pub attribute: String,
}

impl Default for LogTimestampsConfig {
    fn default() -> Self {
        LogTimestampsConfig {
            enabled: true,
            attribute: "event.timestamp".to_string(),
        }
    }
}

/// Which of several attributes with the same key survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DedupeKeep {
    /// The last one (default): a later write wins, as in any map insert (`HashMap::insert`,
    /// `JSON.parse`, a Python dict). In Codex's spans the last `thread.id` is the value Codex set
    /// itself (the conversation thread UUID, the only conversation link on spans such as
    /// `session_task.turn` and `codex.exec`), while the first is tracing-opentelemetry's automatic
    /// OS thread number, which `thread.name` already describes.
    #[default]
    Last,
    /// The first one.
    First,
}

/// `dedupe_attributes` fix: at most one attribute per key on every attribute list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// Whether the fix runs. Default: `true`.
    pub enabled: bool,
    /// `last` (default) or `first`: which duplicate is kept, in its own position.
    pub keep: DedupeKeep,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            enabled: true,
            keep: DedupeKeep::Last,
        }
    }
}

/// `numeric_strings` fix: string values under listed keys become typed values. A key list entry is
/// an exact key or a glob where `*` matches any run of characters (`*_token_count`).
///
/// Under a number key, a string that is a whole number (`"908"`) becomes an integer and a decimal
/// number (`"12.5"`, `"1e3"`) becomes a double; under a bool key, `"true"` / `"false"` (any case)
/// become booleans. Anything else is left as it is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumericStringsConfig {
    /// Whether the fix runs. Default: `true`.
    pub enabled: bool,
    /// Keys whose numeric strings become numbers. Default: [`DEFAULT_NUMBER_KEYS`]; setting it
    /// replaces the built-in list.
    pub number_keys: Vec<String>,
    /// More number keys, added to `number_keys`. Default: empty.
    pub extra_number_keys: Vec<String>,
    /// Keys whose `"true"` / `"false"` strings become booleans. Default: [`DEFAULT_BOOL_KEYS`];
    /// setting it replaces the built-in list.
    pub bool_keys: Vec<String>,
    /// More bool keys, added to `bool_keys`. Default: empty.
    pub extra_bool_keys: Vec<String>,
}

impl Default for NumericStringsConfig {
    fn default() -> Self {
        NumericStringsConfig {
            enabled: true,
            number_keys: DEFAULT_NUMBER_KEYS.iter().map(|s| s.to_string()).collect(),
            extra_number_keys: Vec::new(),
            bool_keys: DEFAULT_BOOL_KEYS.iter().map(|s| s.to_string()).collect(),
            extra_bool_keys: Vec::new(),
        }
    }
}

/// `event_name` fix: a log record whose `attribute` is a non-empty string gets it as its
/// `event_name` field. Records without the attribute keep their `event_name`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventNameConfig {
    /// Whether the fix runs. Default: `true`.
    pub enabled: bool,
    /// Attribute holding the event name. Default: `event.name`.
    pub attribute: String,
    /// Keep the attribute after copying it (dashboards and Codex docs query `event.name`).
    /// Default: `true`.
    pub keep_attribute: bool,
}

impl Default for EventNameConfig {
    fn default() -> Self {
        EventNameConfig {
            enabled: true,
            attribute: "event.name".to_string(),
            keep_attribute: true,
        }
    }
}

/// A fix config that a bare `true` / `false` can stand for.
trait Toggle: Default {
    fn set_enabled(&mut self, enabled: bool);
}

macro_rules! toggle {
    ($($t:ty),*) => {$(
        impl Toggle for $t {
            fn set_enabled(&mut self, enabled: bool) {
                self.enabled = enabled;
            }
        }
    )*};
}
toggle!(
    LogTimestampsConfig,
    DedupeConfig,
    NumericStringsConfig,
    EventNameConfig
);

/// Deserializes a fix from `true` / `false` (defaults, enabled or not) or from its full map.
fn bool_or_map<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Toggle,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Toggle> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true, false or a map")
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<T, E> {
            let mut t = T::default();
            t.set_enabled(b);
            Ok(t)
        }
        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// Exact keys plus globs (`*` = any run of characters except a newline, as the `.*` of the
/// anchored regex the globs stand for).
#[derive(Debug)]
struct KeyMatcher {
    exact: StrMap<()>,
    globs: Vec<Glob>,
    /// The globs with a newline in their literal text, as one anchored regex (never in practice).
    newline_globs: Option<Regex>,
}

/// One glob split at its `*`s: at least two parts (the text before the first `*` and after the
/// last), none containing a newline.
#[derive(Debug)]
struct Glob {
    parts: Vec<String>,
    /// Total length of the parts: the shortest key that can match.
    min_len: usize,
}

impl Glob {
    fn matches(&self, key: &str) -> bool {
        let k = key.as_bytes();
        let (Some(first), Some(last)) = (self.parts.first(), self.parts.last()) else {
            return false;
        };
        let (first, last) = (first.as_bytes(), last.as_bytes());
        if k.len() < self.min_len
            || !bytes_eq(&k[..first.len()], first)
            || !bytes_eq(&k[k.len() - last.len()..], last)
        {
            return false;
        }
        // Middle parts, leftmost first, in what lies between the first and the last part.
        let mut rest = &k[first.len()..k.len() - last.len()];
        for mid in &self.parts[1..self.parts.len() - 1] {
            let mid = mid.as_bytes();
            if mid.is_empty() {
                continue;
            }
            match rest.windows(mid.len()).position(|w| w == mid) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        // No part holds a newline, so every newline of the key falls in a `*`, which
        // (like `.`) does not match one.
        !k.contains(&b'\n')
    }
}

impl KeyMatcher {
    fn build(lists: &[(&str, &[String])], errors: &mut Vec<BuildError>) -> Option<KeyMatcher> {
        let mut exact = StrMap::default();
        let mut globs = Vec::new();
        let mut fast_globs = Vec::new();
        let mut newline_globs = Vec::new();
        let mut ok = true;
        for (path, list) in lists {
            for (i, key) in list.iter().enumerate() {
                if key.is_empty() {
                    errors.push(BuildError::field(format!("{path}[{i}]"), "empty key"));
                    ok = false;
                } else if key.contains('*') {
                    let parts: Vec<String> = key.split('*').map(regex::escape).collect();
                    globs.push(parts.join(".*"));
                    if key.contains('\n') {
                        newline_globs.push(parts.join(".*"));
                    } else {
                        let parts: Vec<String> = key.split('*').map(str::to_string).collect();
                        let min_len = parts.iter().map(String::len).sum();
                        fast_globs.push(Glob { parts, min_len });
                    }
                } else {
                    exact.insert_if_absent(key, ());
                }
            }
        }
        // The globs are still compiled as one regex, so a list the regex crate refuses (too
        // large) is reported as before.
        if !globs.is_empty() {
            if let Err(e) = Regex::new(&format!("^(?:{})$", globs.join("|"))) {
                let path = lists.first().map(|(p, _)| *p).unwrap_or("");
                errors.push(BuildError::field(path, format!("key globs: {e}")));
                ok = false;
            }
        }
        let newline_globs = if newline_globs.is_empty() {
            None
        } else {
            Regex::new(&format!("^(?:{})$", newline_globs.join("|"))).ok()
        };
        ok.then(|| KeyMatcher {
            exact,
            globs: fast_globs,
            newline_globs,
        })
    }

    fn matches(&self, key: &str) -> bool {
        self.exact.contains_key(key)
            || self.globs.iter().any(|g| g.matches(key))
            || self
                .newline_globs
                .as_ref()
                .is_some_and(|re| re.is_match(key))
    }
}

#[derive(Debug)]
struct NumericKeys {
    numbers: KeyMatcher,
    bools: KeyMatcher,
}

#[derive(Debug)]
struct EventNameFix {
    attribute: String,
    keep_attribute: bool,
}

/// The built `codex` processor.
#[derive(Debug)]
pub struct CodexProcessor {
    timestamps: Option<String>,
    dedupe: Option<DedupeKeep>,
    numeric: Option<NumericKeys>,
    event_name: Option<EventNameFix>,
}

impl CodexConfig {
    /// Checks the config and builds the processor; all problems are returned at once.
    pub fn build(&self) -> Result<CodexProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        if self.log_timestamps.enabled && self.log_timestamps.attribute.is_empty() {
            errors.push(BuildError::field(
                "log_timestamps.attribute",
                "must not be empty",
            ));
        }
        if self.event_name.enabled && self.event_name.attribute.is_empty() {
            errors.push(BuildError::field(
                "event_name.attribute",
                "must not be empty",
            ));
        }
        let ns = &self.numeric_strings;
        let numeric = if ns.enabled {
            let numbers = KeyMatcher::build(
                &[
                    ("numeric_strings.number_keys", &ns.number_keys[..]),
                    (
                        "numeric_strings.extra_number_keys",
                        &ns.extra_number_keys[..],
                    ),
                ],
                &mut errors,
            );
            let bools = KeyMatcher::build(
                &[
                    ("numeric_strings.bool_keys", &ns.bool_keys[..]),
                    ("numeric_strings.extra_bool_keys", &ns.extra_bool_keys[..]),
                ],
                &mut errors,
            );
            numbers
                .zip(bools)
                .map(|(numbers, bools)| NumericKeys { numbers, bools })
        } else {
            None
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CodexProcessor {
            timestamps: self
                .log_timestamps
                .enabled
                .then(|| self.log_timestamps.attribute.clone()),
            dedupe: self
                .dedupe_attributes
                .enabled
                .then_some(self.dedupe_attributes.keep),
            numeric,
            event_name: self.event_name.enabled.then(|| EventNameFix {
                attribute: self.event_name.attribute.clone(),
                keep_attribute: self.event_name.keep_attribute,
            }),
        })
    }
}

/// How many changes each fix made in one request.
#[derive(Debug, Default)]
struct Fixes {
    log_timestamps: u64,
    dedupe_attributes: u64,
    numeric_strings: u64,
    event_name: u64,
}

impl Fixes {
    fn report(&self, cx: &mut ProcessContext<'_>) {
        for (label, n) in [
            ("log_timestamps", self.log_timestamps),
            ("dedupe_attributes", self.dedupe_attributes),
            ("numeric_strings", self.numeric_strings),
            ("event_name", self.event_name),
        ] {
            if n > 0 {
                cx.count("codex_fixes", label, n);
            }
        }
    }
}

impl CodexProcessor {
    /// Dedupe only: resource and scope attributes.
    fn dedupe(&self, attrs: &mut Vec<KeyValue>, fixes: &mut Fixes) {
        if let Some(keep) = self.dedupe {
            fixes.dedupe_attributes += dedupe_attributes(attrs, keep);
        }
    }

    /// Dedupe, then typed values: item attributes (spans, events, links, points, log records).
    fn item(&self, attrs: &mut Vec<KeyValue>, fixes: &mut Fixes) {
        self.dedupe(attrs, fixes);
        if let Some(keys) = &self.numeric {
            fixes.numeric_strings += convert_strings(attrs, keys);
        }
    }

    fn log_record(&self, lr: &mut LogRecord, fixes: &mut Fixes) {
        self.item(&mut lr.attributes, fixes);
        if let Some(attr) = &self.timestamps {
            let event_time = match crate::find_attr(&lr.attributes, attr) {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            };
            let observed = lr.observed_time_unix_nano;
            if let Some(t) = fixed_log_time(lr.time_unix_nano, observed, event_time) {
                lr.time_unix_nano = t;
                fixes.log_timestamps += 1;
            }
        }
        if let Some(fix) = &self.event_name {
            let name = match crate::find_attr(&lr.attributes, &fix.attribute) {
                Some(Value::StringValue(s)) if !s.is_empty() => Some(s),
                _ => None,
            };
            if let Some(name) = name {
                let mut changed = false;
                if lr.event_name != *name {
                    lr.event_name = name.clone();
                    changed = true;
                }
                if !fix.keep_attribute {
                    lr.attributes.retain(|kv| kv.key != fix.attribute);
                    changed = true;
                }
                if changed {
                    fixes.event_name += 1;
                }
            }
        }
    }

    /// [`Self::log_record`] on a viewed record.
    fn record_view(&self, lr: &mut RecordView<'_>, fixes: &mut Fixes) {
        if let Some(keep) = self.dedupe {
            fixes.dedupe_attributes += dedupe_attributes(&mut lr.attributes, keep);
        }
        if let Some(keys) = &self.numeric {
            fixes.numeric_strings += convert_view_strings(&mut lr.attributes, keys);
        }
        if let Some(attr) = &self.timestamps {
            let event_time = match find_view_attr(&lr.attributes, attr) {
                Some(Val::String(s)) => Some(s.as_ref()),
                _ => None,
            };
            let observed = lr.observed_time_unix_nano;
            if let Some(t) = fixed_log_time(lr.time_unix_nano, observed, event_time) {
                lr.time_unix_nano = t;
                fixes.log_timestamps += 1;
            }
        }
        if let Some(fix) = &self.event_name {
            let name = match find_view_attr(&lr.attributes, &fix.attribute) {
                Some(Val::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            if let Some(name) = name {
                let mut changed = false;
                if lr.event_name != name {
                    lr.event_name = name;
                    changed = true;
                }
                if !fix.keep_attribute {
                    lr.attributes.retain(|kv| kv.key != fix.attribute.as_str());
                    changed = true;
                }
                if changed {
                    fixes.event_name += 1;
                }
            }
        }
    }

    fn metric(&self, m: &mut Metric, fixes: &mut Fixes) {
        if self.dedupe.is_none() && self.numeric.is_none() {
            return;
        }
        crate::for_each_point_attributes(m, |a| self.item(a, fixes))
    }
}

impl Processor for CodexProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.dedupe.is_none() && self.numeric.is_none() {
            return;
        }
        let mut fixes = Fixes::default();
        for rs in &mut req.resource_spans {
            if let Some(r) = &mut rs.resource {
                self.dedupe(&mut r.attributes, &mut fixes);
            }
            for ss in &mut rs.scope_spans {
                if let Some(s) = &mut ss.scope {
                    self.dedupe(&mut s.attributes, &mut fixes);
                }
                for span in &mut ss.spans {
                    self.item(&mut span.attributes, &mut fixes);
                    for ev in &mut span.events {
                        self.item(&mut ev.attributes, &mut fixes);
                    }
                    for link in &mut span.links {
                        self.item(&mut link.attributes, &mut fixes);
                    }
                }
            }
        }
        fixes.report(cx);
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.dedupe.is_none() && self.numeric.is_none() {
            return;
        }
        let mut fixes = Fixes::default();
        for rm in &mut req.resource_metrics {
            if let Some(r) = &mut rm.resource {
                self.dedupe(&mut r.attributes, &mut fixes);
            }
            for sm in &mut rm.scope_metrics {
                if let Some(s) = &mut sm.scope {
                    self.dedupe(&mut s.attributes, &mut fixes);
                }
                for m in &mut sm.metrics {
                    self.metric(m, &mut fixes);
                }
            }
        }
        fixes.report(cx);
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        let mut fixes = Fixes::default();
        for rl in &mut req.resource_logs {
            if let Some(r) = &mut rl.resource {
                self.dedupe(&mut r.attributes, &mut fixes);
            }
            for sl in &mut rl.scope_logs {
                if let Some(s) = &mut sl.scope {
                    self.dedupe(&mut s.attributes, &mut fixes);
                }
                for lr in &mut sl.log_records {
                    self.log_record(lr, &mut fixes);
                }
            }
        }
        fixes.report(cx);
    }

    fn handles_log_views(&self) -> bool {
        true
    }

    fn process_log_views(&self, logs: &mut LogsView<'_>, cx: &mut ProcessContext<'_>) {
        let mut fixes = Fixes::default();
        for rl in &mut logs.resource_logs {
            if let Some(r) = &mut rl.resource {
                self.dedupe(&mut r.attributes, &mut fixes);
            }
            for sl in &mut rl.scope_logs {
                if let Some(s) = &mut sl.scope {
                    self.dedupe(&mut s.attributes, &mut fixes);
                }
                for lr in &mut sl.log_records {
                    self.record_view(lr, &mut fixes);
                }
            }
        }
        fixes.report(cx);
    }
}

/// An attribute with a key: a decoded `KeyValue` or a viewed one.
pub trait Keyed {
    /// Its key.
    fn key(&self) -> &str;
}

impl Keyed for KeyValue {
    fn key(&self) -> &str {
        &self.key
    }
}

impl Keyed for KvView<'_> {
    fn key(&self) -> &str {
        &self.key
    }
}

/// The `log_timestamps` fix of one record: when its `time` is 0, the time of its event
/// attribute (RFC 3339 text), else its `observed` time; `None` when the record keeps its time.
fn fixed_log_time(time: u64, observed: u64, event_time: Option<&str>) -> Option<u64> {
    if time != 0 {
        return None;
    }
    let t = event_time.and_then(parse_rfc3339_nanos).unwrap_or(observed);
    (t != 0).then_some(t)
}

/// `a == b` for keys of one list; keys that share a prefix (`code.module.name`,
/// `code.line.number`) often differ in their last byte.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.last() == b.last() && bytes_eq(a, b)
}

/// The bit of a key's length (modulo 64) in a length bitmap.
fn length_bit(key: &str) -> u64 {
    1u64 << (key.len() & 63)
}

/// The bitmap of key lengths (modulo 64) that occur more than once in `attrs`: only keys with
/// such a length can be duplicates, so only their text needs comparing.
fn repeated_lengths<K: Keyed>(attrs: &[K]) -> u64 {
    let (mut seen, mut repeated) = (0u64, 0u64);
    for kv in attrs {
        let bit = length_bit(kv.key());
        repeated |= seen & bit;
        seen |= bit;
    }
    repeated
}

/// Whether two attributes of `attrs` share a key.
fn has_duplicate_keys<K: Keyed>(attrs: &[K]) -> bool {
    const SMALL: usize = 32;
    if attrs.len() <= SMALL {
        // Without allocating, reading key text only for keys of a repeated length.
        let repeated = repeated_lengths(attrs);
        if repeated == 0 {
            return false;
        }
        for i in 1..attrs.len() {
            let a = attrs[i].key();
            if repeated & length_bit(a) != 0 && attrs[..i].iter().any(|b| same_key(b.key(), a)) {
                return true;
            }
        }
        false
    } else {
        let mut seen = HashSet::with_capacity(attrs.len());
        !attrs.iter().all(|kv| seen.insert(kv.key()))
    }
}

/// Removes attributes whose key occurs more than once, keeping one per key (the first or the
/// last occurrence, in its own position). Returns how many were removed.
pub fn dedupe_attributes<K: Keyed>(attrs: &mut Vec<K>, keep: DedupeKeep) -> u64 {
    if !has_duplicate_keys(attrs) {
        return 0;
    }
    let before = attrs.len();
    if before <= 64 {
        // Without allocating: a bit per attribute, comparing key text only between keys of a
        // repeated length. Codex repeats `thread.id` on every span, so this path is hot.
        let repeated = repeated_lengths(attrs);
        let mut drop_mask = 0u64;
        for (i, kv) in attrs.iter().enumerate() {
            if repeated & length_bit(kv.key()) == 0 {
                continue;
            }
            let others = match keep {
                DedupeKeep::First => &attrs[..i],
                DedupeKeep::Last => &attrs[i + 1..],
            };
            if others.iter().any(|o| same_key(o.key(), kv.key())) {
                drop_mask |= 1u64 << i;
            }
        }
        let mut i = 0;
        attrs.retain(|_| {
            let kept = drop_mask & (1u64 << i) == 0;
            i += 1;
            kept
        });
        return (before - attrs.len()) as u64;
    }
    let mut keep_mask = vec![true; attrs.len()];
    let mut seen: HashSet<&str> = HashSet::with_capacity(attrs.len());
    let order: Box<dyn Iterator<Item = (usize, &K)>> = match keep {
        DedupeKeep::First => Box::new(attrs.iter().enumerate()),
        DedupeKeep::Last => Box::new(attrs.iter().enumerate().rev()),
    };
    for (i, kv) in order {
        if !seen.insert(kv.key()) {
            keep_mask[i] = false;
        }
    }
    drop(seen);
    let mut mask = keep_mask.into_iter();
    attrs.retain(|_| mask.next().unwrap_or(true));
    (before - attrs.len()) as u64
}

/// Replaces numeric / boolean strings under the configured keys; returns how many changed.
fn convert_strings(attrs: &mut [KeyValue], keys: &NumericKeys) -> u64 {
    let mut n = 0;
    for kv in attrs {
        let Some(AnyValue {
            value: Some(Value::StringValue(s)),
        }) = &kv.value
        else {
            continue;
        };
        if let Some(v) = keys.typed(&kv.key, s) {
            kv.value = Some(AnyValue { value: Some(v) });
            n += 1;
        }
    }
    n
}

/// [`convert_strings`] on viewed attributes.
fn convert_view_strings(attrs: &mut [KvView<'_>], keys: &NumericKeys) -> u64 {
    let mut n = 0;
    for kv in attrs {
        let Some(s) = kv.value.as_ref().and_then(ValueView::as_str) else {
            continue;
        };
        if let Some(v) = keys.typed(&kv.key, s).and_then(Val::scalar) {
            kv.value = Some(ValueView { value: Some(v) });
            n += 1;
        }
    }
    n
}

impl NumericKeys {
    /// The typed value of the string `s` under `key`, when the key is listed and `s` is clean.
    fn typed(&self, key: &str, s: &str) -> Option<Value> {
        // The value is looked at first: most strings are neither a boolean nor a number, and
        // then the key does not matter. (`"true"` / `"false"` never parse as numbers.)
        match parse_bool(s) {
            Some(b) => self.bools.matches(key).then_some(Value::BoolValue(b)),
            // The key before the parse: many strings start like numbers (ids, versions, times).
            None if may_be_number(s) && self.numbers.matches(key) => parse_number(s),
            None => None,
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether [`parse_number`] can return a number for `s`: it starts like an integer or a plain
/// decimal number.
#[inline]
fn may_be_number(s: &str) -> bool {
    s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
}

/// A whole number → int, a plain decimal number → double; words such as `inf` or `NaN` and
/// anything with spaces stay strings.
fn parse_number(s: &str) -> Option<Value> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::IntValue(i));
    }
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|d| d.is_finite())
        .map(Value::DoubleValue)
}

/// Parses an RFC 3339 date-time (`2026-11-21T04:48:07.441Z`, `2026-11-21t04:48:07+02:00`,
/// `2026-11-21 04:48:07.123456789Z`) into nanoseconds since the Unix epoch.
///
/// Fractions longer than nanoseconds are truncated; a leap second (`:60`) counts as the next
/// second. Returns `None` for anything malformed and for times before 1970 or after year 2554
/// (beyond `u64` nanoseconds).
pub fn parse_rfc3339_nanos(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&c @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if !sep(i + 3, b":") || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if c == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    if i != b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl crate::Component for CodexConfig {
    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{find_attr, Metadata};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use prost::Message;

    fn fixture(path: &str) -> Vec<u8> {
        let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    const LOGS: &[&str] = &[
        "tool-secrets-protobuf/004_logs.pb",
        "api-retries-protobuf/004_logs.pb",
        "failing-tool-loop-protobuf/005_logs.pb",
    ];
    const TRACES: &[&str] = &[
        "tool-secrets-protobuf/001_traces.pb",
        "tool-secrets-protobuf/002_traces.pb",
        "api-retries-protobuf/001_traces.pb",
        "api-retries-protobuf/002_traces.pb",
        "failing-tool-loop-protobuf/001_traces.pb",
        "failing-tool-loop-protobuf/002_traces.pb",
        "failing-tool-loop-protobuf/003_traces.pb",
    ];
    const METRICS: &[&str] = &[
        "tool-secrets-protobuf/003_metrics.pb",
        "api-retries-protobuf/003_metrics.pb",
        "failing-tool-loop-protobuf/004_metrics.pb",
    ];

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn s(v: &str) -> Value {
        Value::StringValue(v.into())
    }

    fn processor() -> CodexProcessor {
        CodexConfig::default()
            .build()
            .expect("default config builds")
    }

    fn run_logs(p: &CodexProcessor, req: &mut ExportLogsServiceRequest) -> Vec<(String, u64)> {
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(req, &mut cx);
        assert_eq!(cx.dropped(), 0);
        cx.counts()
            .iter()
            .map(|(_, l, n)| (l.clone(), *n))
            .collect()
    }

    fn all_lists_have_unique_keys(lists: Vec<&Vec<KeyValue>>) -> Result<(), String> {
        for attrs in lists {
            if has_duplicate_keys(attrs) {
                let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
                return Err(format!("duplicate keys in {keys:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn rfc3339_parses_the_codex_format_and_agrees_with_observed_time() {
        // First record of tool-secrets-protobuf/004_logs.pb.
        let t = parse_rfc3339_nanos("2026-11-21T04:48:07.441Z").expect("parses");
        assert_eq!(t, 1_795_236_487_441_000_000);
        assert!(1_795_236_487_441_625_271u64.abs_diff(t) < 1_000_000);
    }

    #[test]
    fn rfc3339_handles_offsets_fractions_and_separators() {
        let base = parse_rfc3339_nanos("2024-02-29T12:00:00Z").expect("leap day");
        assert_eq!(parse_rfc3339_nanos("2024-02-29T14:30:00+02:30"), Some(base));
        assert_eq!(parse_rfc3339_nanos("2024-02-29t09:00:00-03:00"), Some(base));
        assert_eq!(
            parse_rfc3339_nanos("2024-02-29 12:00:00.5z"),
            Some(base + 500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2024-02-29T12:00:00.1234567891234Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn rfc3339_rejects_malformed_and_out_of_range_times() {
        for bad in [
            "",
            "2026-11-21",
            "2026-11-21T04:48:07",
            "2026-11-21T04:48:07.Z",
            "2026-11-21T04:48:07.441",
            "2026-11-21T04:48:07.441Zjunk",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T04:60:00Z",
            "2026-11-21T04:48:07+2:00",
            "2026-11-21T04:48:07+24:00",
            "2026/11/21T04:48:07Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
            "+026-11-21T04:48:07Z",
            "2026-11-21T04:48:07.441Z\u{e9}",
        ] {
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dedupe_keeps_the_last_value_by_default_in_its_position() {
        let mut attrs = vec![
            kv("thread.id", Value::IntValue(4)),
            kv("thread.name", s("tokio-rt-worker")),
            kv("thread.id", s("01a1fc6e")),
            kv("busy_ns", Value::IntValue(1)),
        ];
        assert_eq!(dedupe_attributes(&mut attrs, DedupeKeep::Last), 1);
        let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["thread.name", "thread.id", "busy_ns"]);
        assert_eq!(find_attr(&attrs, "thread.id"), Some(&s("01a1fc6e")));
    }

    #[test]
    fn dedupe_first_keeps_the_first_and_large_lists_work_too() {
        let mut attrs: Vec<KeyValue> = (0..100)
            .map(|i| kv(&format!("k{}", i % 40), Value::IntValue(i)))
            .collect();
        assert_eq!(dedupe_attributes(&mut attrs, DedupeKeep::First), 60);
        assert_eq!(attrs.len(), 40);
        assert_eq!(find_attr(&attrs, "k5"), Some(&Value::IntValue(5)));
        let mut none = vec![kv("a", s("1")), kv("b", s("2"))];
        assert_eq!(dedupe_attributes(&mut none, DedupeKeep::Last), 0);
    }

    #[test]
    fn numeric_strings_convert_only_listed_keys_and_only_clean_values() {
        let p = CodexConfig {
            numeric_strings: NumericStringsConfig {
                extra_number_keys: vec!["status".into()],
                ..Default::default()
            },
            ..Default::default()
        }
        .build()
        .expect("valid");
        let keys = p.numeric.as_ref().expect("enabled");
        let mut attrs = vec![
            kv("duration_ms", s("155")),
            kv("input_token_count", s("1201")),
            kv("item_count", s("-3")),
            kv("status", s("200")),
            kv("success", s("TRUE")),
            kv("is_git", s("false")),
            kv("prompt_length", s("12.5")),
            kv("rpc.request_id", s("1")),
            kv("duration_ms_note", s("7")),
            kv("tool_token_count", s("NaN")),
            kv("max_total", s(" 4")),
            kv("success_rate", s("true")),
            kv("cached_token_count", Value::IntValue(1000)),
        ];
        assert_eq!(convert_strings(&mut attrs, keys), 7);
        let get = |k: &str| find_attr(&attrs, k).cloned();
        assert_eq!(get("duration_ms"), Some(Value::IntValue(155)));
        assert_eq!(get("input_token_count"), Some(Value::IntValue(1201)));
        assert_eq!(get("item_count"), Some(Value::IntValue(-3)));
        assert_eq!(get("status"), Some(Value::IntValue(200)));
        assert_eq!(get("success"), Some(Value::BoolValue(true)));
        assert_eq!(get("is_git"), Some(Value::BoolValue(false)));
        assert_eq!(get("prompt_length"), Some(Value::DoubleValue(12.5)));
        assert_eq!(get("rpc.request_id"), Some(s("1")));
        assert_eq!(get("duration_ms_note"), Some(s("7")));
        assert_eq!(get("tool_token_count"), Some(s("NaN")));
        assert_eq!(get("max_total"), Some(s(" 4")));
        assert_eq!(get("success_rate"), Some(s("true")));
    }

    #[test]
    fn event_name_is_promoted_and_the_attribute_can_be_removed() {
        let mut req =
            ExportLogsServiceRequest::decode(fixture(LOGS[0]).as_slice()).expect("decode");
        let p = CodexConfig {
            event_name: EventNameConfig {
                keep_attribute: false,
                ..Default::default()
            },
            ..Default::default()
        }
        .build()
        .expect("valid");
        run_logs(&p, &mut req);
        let records: Vec<&LogRecord> = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect();
        let codex_events = records
            .iter()
            .filter(|lr| lr.event_name.starts_with("codex."))
            .count();
        assert!(codex_events >= 20, "{codex_events}");
        assert!(records
            .iter()
            .all(|lr| find_attr(&lr.attributes, "event.name").is_none()));
        // The one record without `event.name` (a debug line) keeps its call-site name.
        assert!(records
            .iter()
            .any(|lr| lr.event_name == "event otel/src/metrics/client.rs:324"));
    }

    #[test]
    fn fixture_logs_end_up_with_times_event_names_and_typed_counts() {
        for path in LOGS {
            let mut req =
                ExportLogsServiceRequest::decode(fixture(path).as_slice()).expect("decode");
            let counts = run_logs(&processor(), &mut req);
            let mut token_counts = 0;
            for rl in &req.resource_logs {
                for lr in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    assert_ne!(lr.time_unix_nano, 0, "{path}: zero timestamp left");
                    assert!(
                        lr.time_unix_nano.abs_diff(lr.observed_time_unix_nano) < 1_000_000_000,
                        "{path}: event time far from observed time"
                    );
                    if let Some(Value::StringValue(name)) = find_attr(&lr.attributes, "event.name")
                    {
                        assert_eq!(&lr.event_name, name, "{path}");
                    }
                    for kv in &lr.attributes {
                        let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                        if kv.key.ends_with("_token_count") {
                            token_counts += 1;
                            assert!(matches!(v, Some(Value::IntValue(_))), "{path}: {kv:?}");
                        }
                        if kv.key == "duration_ms" || kv.key == "prompt_length" {
                            assert!(matches!(v, Some(Value::IntValue(_))), "{path}: {kv:?}");
                        }
                        if kv.key == "success" {
                            assert!(matches!(v, Some(Value::BoolValue(_))), "{path}: {kv:?}");
                        }
                    }
                }
            }
            assert!(token_counts > 0, "{path}: no token counts in fixture");
            let labels: Vec<&str> = counts.iter().map(|(l, _)| l.as_str()).collect();
            for fix in ["log_timestamps", "numeric_strings", "event_name"] {
                assert!(labels.contains(&fix), "{path}: {counts:?}");
            }
        }
    }

    #[test]
    fn fixture_traces_and_metrics_have_no_duplicate_keys_after_the_fix() {
        let p = processor();
        let md = Metadata::default();
        let mut removed = 0;
        for path in TRACES {
            let mut req =
                ExportTraceServiceRequest::decode(fixture(path).as_slice()).expect("decode");
            let mut cx = ProcessContext::new(&md);
            p.process_traces(&mut req, &mut cx);
            removed += cx
                .counts()
                .iter()
                .filter(|(_, l, _)| l == "dedupe_attributes")
                .map(|(_, _, n)| n)
                .sum::<u64>();
            for rs in &req.resource_spans {
                let mut lists = vec![];
                if let Some(r) = &rs.resource {
                    lists.push(&r.attributes);
                }
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        lists.push(&span.attributes);
                        lists.extend(span.events.iter().map(|e| &e.attributes));
                        lists.extend(span.links.iter().map(|l| &l.attributes));
                        if let Some(Value::StringValue(id)) =
                            find_attr(&span.attributes, "thread.id")
                        {
                            assert_eq!(id.len(), 36, "the conversation UUID survives");
                        }
                        if let Some(v) = find_attr(&span.attributes, "item_count") {
                            assert!(matches!(v, Value::IntValue(_)), "{v:?}");
                        }
                    }
                }
                all_lists_have_unique_keys(lists).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
        assert!(
            removed >= 15,
            "expected Codex's duplicate thread.id, got {removed}"
        );
        for path in METRICS {
            let mut req =
                ExportMetricsServiceRequest::decode(fixture(path).as_slice()).expect("decode");
            p.process_metrics(&mut req, &mut ProcessContext::new(&md));
            for m in req
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
            {
                let points: Vec<&Vec<KeyValue>> = match &m.data {
                    Some(Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes).collect(),
                    Some(Data::Gauge(g)) => g.data_points.iter().map(|p| &p.attributes).collect(),
                    Some(Data::Histogram(h)) => {
                        h.data_points.iter().map(|p| &p.attributes).collect()
                    }
                    _ => vec![],
                };
                for attrs in &points {
                    if let Some(v) = find_attr(attrs, "success") {
                        assert!(matches!(v, Value::BoolValue(_)), "{}: {v:?}", m.name);
                    }
                }
                all_lists_have_unique_keys(points).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
    }

    #[test]
    fn disabled_fixes_leave_the_request_untouched() {
        let body = fixture(LOGS[1]);
        let original = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
        let mut req = original.clone();
        let cfg: CodexConfig = serde_json::from_str(
            r#"{"log_timestamps": false, "dedupe_attributes": false,
                "numeric_strings": {"enabled": false}, "event_name": false}"#,
        )
        .expect("config");
        let counts = run_logs(&cfg.build().expect("valid"), &mut req);
        assert_eq!(req, original);
        assert!(counts.is_empty());
    }

    #[test]
    fn unparsable_event_timestamp_falls_back_to_observed_time() {
        let mut req = ExportLogsServiceRequest::default();
        req.resource_logs.push(Default::default());
        req.resource_logs[0].scope_logs.push(Default::default());
        let records = &mut req.resource_logs[0].scope_logs[0].log_records;
        records.push(LogRecord {
            observed_time_unix_nano: 42,
            attributes: vec![kv("event.timestamp", s("yesterday"))],
            ..Default::default()
        });
        records.push(LogRecord {
            observed_time_unix_nano: 43,
            ..Default::default()
        });
        records.push(LogRecord::default());
        records.push(LogRecord {
            time_unix_nano: 7,
            attributes: vec![kv("event.timestamp", s("2026-11-21T04:48:07.441Z"))],
            ..Default::default()
        });
        let counts = run_logs(&processor(), &mut req);
        let times: Vec<u64> = req.resource_logs[0].scope_logs[0]
            .log_records
            .iter()
            .map(|lr| lr.time_unix_nano)
            .collect();
        assert_eq!(times, [42, 43, 0, 7]);
        assert_eq!(counts, [("log_timestamps".to_string(), 2)]);
    }

    #[test]
    fn config_accepts_booleans_maps_and_rejects_unknown_fields() {
        let cfg: CodexConfig = serde_json::from_str(r#"{}"#).expect("empty");
        assert_eq!(cfg, CodexConfig::default());
        let cfg: CodexConfig =
            serde_json::from_str(r#"{"dedupe_attributes": {"keep": "first"}}"#).expect("map");
        assert!(cfg.dedupe_attributes.enabled);
        assert_eq!(cfg.dedupe_attributes.keep, DedupeKeep::First);
        let err = serde_json::from_str::<CodexConfig>(r#"{"event_name": {"keep": true}}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `keep`"), "{err}");
        assert!(serde_json::from_str::<CodexConfig>(r#"{"timestamps": true}"#).is_err());
        assert!(serde_json::from_str::<CodexConfig>(r#"{"event_name": "yes"}"#).is_err());
    }

    #[test]
    fn invalid_config_reports_field_paths() {
        let cfg = CodexConfig {
            log_timestamps: LogTimestampsConfig {
                attribute: String::new(),
                ..Default::default()
            },
            numeric_strings: NumericStringsConfig {
                extra_number_keys: vec!["ok".into(), String::new()],
                extra_bool_keys: vec![String::new()],
                ..Default::default()
            },
            ..Default::default()
        };
        let errs = cfg.build().expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "log_timestamps.attribute",
                "numeric_strings.extra_number_keys[1]",
                "numeric_strings.extra_bool_keys[0]"
            ]
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Days since 1970 by counting, independent of `days_from_civil`.
        fn naive_days(y: i64, m: i64, d: i64) -> i64 {
            let mut days = 0;
            for yy in 1970..y {
                days += if is_leap(yy) { 366 } else { 365 };
            }
            for mm in 1..m {
                days += days_in_month(y, mm);
            }
            days + d - 1
        }

        proptest! {
            #[test]
            fn rfc3339_matches_naive_day_counting(
                y in 1970i64..2500, m in 1i64..=12, d in 1i64..=31,
                h in 0i64..24, mi in 0i64..60, sec in 0i64..60, ms in 0u64..1000,
            ) {
                prop_assume!(d <= days_in_month(y, m));
                let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{ms:03}Z");
                let want = (naive_days(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec) as u64
                    * 1_000_000_000 + ms * 1_000_000;
                prop_assert_eq!(parse_rfc3339_nanos(&text), Some(want));
            }

            #[test]
            fn rfc3339_never_panics(text in "\\PC{0,40}") {
                let _ = parse_rfc3339_nanos(&text);
            }

            #[test]
            fn dedupe_leaves_one_of_each_key_in_place_first_or_last(
                keys in proptest::collection::vec(0usize..8, 0..100),
                last in any::<bool>(),
            ) {
                // Same-length keys, and lengths equal modulo 64 ("a" and the 65-byte key), so
                // the length prefilter of the small path is exercised; 0..100 attributes cover
                // both the small (<= 64) and the large path.
                let long = format!("{}b", "a".repeat(64));
                let names = ["a", "b", "k1", "k2", "thread.id", "thread.ix", &long, "ab"];
                let mut attrs: Vec<KeyValue> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| kv(names[*k], Value::IntValue(i as i64)))
                    .collect();
                let keep = if last { DedupeKeep::Last } else { DedupeKeep::First };
                // The reference: positions of the kept occurrence of each key, in order.
                let mut want: Vec<usize> = (0..keys.len())
                    .filter(|&i| {
                        let mut others = if last {
                            keys[i + 1..].iter()
                        } else {
                            keys[..i].iter()
                        };
                        !others.any(|k| *k == keys[i])
                    })
                    .collect();
                want.sort_unstable();
                let removed = dedupe_attributes(&mut attrs, keep);
                prop_assert_eq!(removed as usize, keys.len() - want.len());
                let got: Vec<Option<Value>> =
                    attrs.iter().map(|kv| kv.value.as_ref().and_then(|v| v.value.clone())).collect();
                let want: Vec<Option<Value>> =
                    want.iter().map(|i| Some(Value::IntValue(*i as i64))).collect();
                prop_assert_eq!(got, want);
            }

            #[test]
            fn key_lists_match_like_the_anchored_regex_of_their_globs(
                list in proptest::collection::vec("[ab*\n.é]{1,5}", 1..5),
                keys in proptest::collection::vec("[ab\n.é]{0,7}", 1..16),
            ) {
                let matcher = KeyMatcher::build(&[("keys", &list[..])], &mut Vec::new())
                    .expect("valid");
                let alternatives: Vec<String> = list
                    .iter()
                    .map(|k| k.split('*').map(regex::escape).collect::<Vec<_>>().join(".*"))
                    .collect();
                let re = Regex::new(&format!("^(?:{})$", alternatives.join("|"))).expect("regex");
                // Keys made from the list itself too, so that matches are common.
                let mut keys = keys;
                keys.extend(list.iter().map(|k| k.replace('*', "")));
                keys.extend(list.iter().map(|k| k.replace('*', "ab")));
                keys.extend(list.iter().map(|k| k.replace('*', "\n")));
                for key in &keys {
                    prop_assert_eq!(matcher.matches(key), re.is_match(key), "{:?} {:?}", list, key);
                }
            }
        }
    }
}
