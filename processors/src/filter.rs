//! `filter` processor: drops spans, span events, log records, metrics and metric data points by
//! name (exact or regex) and attribute conditions, and drops attributes by key or key regex from
//! every attribute list of every signal.
//!
//! Place in the flow: near the end of a chain, after `codex` (so names and values are normalised)
//! and `team` (so tags exist before attributes are pruned), before the exporters; the pipeline
//! prunes scopes and resources left empty afterwards. It is the main lever on backend cost: a
//! short Codex session exports 500+ spans, most of them internal.
//!
//! ```yaml
//! filter/codex-lean:
//!   traces:
//!     span:                       # a span is dropped if ANY condition matches
//!       - name: fs.read_file
//!       - name_regex: "^fs\\."
//!       - { name: handle_responses, attributes: { tool_name: exec_command } }
//!     span_event: []
//!   logs:
//!     log_record:
//!       - { name: codex.sse_event, attributes: { event.kind: { regex: "delta$" } } }
//!   metrics:
//!     metric: [ { name_regex: "^codex\\.skills\\." } ]
//!     datapoint: [ { name: codex.tool.call, attributes: { success: false } } ]
//!   drop_attributes:
//!     keys: [busy_ns, idle_ns]
//!     patterns: ["^code\\.", "^thread\\."]
//! ```
//!
//! A condition matches when **every** part it gives matches: `name` (exact) or `name_regex`
//! (unanchored regex) on the item's name, and each entry of `attributes` on the item's attributes.
//! An attribute entry is a scalar (equal as text: `200` matches `"200"` and `200`) or
//! `{ regex: ... }` / `{ value: ... }`; a missing attribute does not match. Names per item:
//! - span: its name; span event: the event's name (attributes: the event's);
//! - log record: its `event_name` field **or** its `event.name` attribute (Codex 0.169.0 puts the
//!   real name in the attribute; the `codex` processor copies it to the field);
//! - metric: the metric name (metric conditions take no `attributes`; use `datapoint`);
//! - data point: the name of its metric; attributes: the point's.
//!
//! Counting: dropped spans, log records and data points (a dropped metric counts all its points)
//! go to [`ProcessContext::record_dropped`]; every drop is also counted as
//! `filter_dropped{label=<condition path, e.g. traces.span[3]>}` in items (span events only
//! there, since they are not pipeline items); removed attributes as
//! `attributes_dropped{label=<the key, or the pattern text>}`.

use crate::value::config_text;
use crate::{value_text, BuildError, ConfigValue, ProcessContext, Processor};
use literal::{bytes_eq, Pattern, StrMap};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

pub(crate) mod literal;

/// Config of the `filter` processor. Everything is empty by default (nothing is dropped).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Span and span event conditions. Default: none.
    #[serde(default)]
    pub traces: TracesFilterConfig,
    /// Log record conditions. Default: none.
    #[serde(default)]
    pub logs: LogsFilterConfig,
    /// Metric and data point conditions. Default: none.
    #[serde(default)]
    pub metrics: MetricsFilterConfig,
    /// Attributes removed from every attribute list of every signal. Default: none.
    #[serde(default)]
    pub drop_attributes: DropAttributesConfig,
}

/// `traces:` conditions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesFilterConfig {
    /// A span matching any of these is dropped (with its events and links). Default: none.
    #[serde(default)]
    pub span: Vec<ConditionConfig>,
    /// A span event matching any of these is removed from its span. Default: none.
    #[serde(default)]
    pub span_event: Vec<ConditionConfig>,
}

/// `logs:` conditions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsFilterConfig {
    /// A log record matching any of these is dropped. Default: none.
    #[serde(default)]
    pub log_record: Vec<ConditionConfig>,
}

/// `metrics:` conditions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFilterConfig {
    /// A metric matching any of these is dropped with all its points; name only. Default: none.
    #[serde(default)]
    pub metric: Vec<ConditionConfig>,
    /// A data point matching any of these is dropped; `name` is its metric's. A metric left
    /// without points is removed. Default: none.
    #[serde(default)]
    pub datapoint: Vec<ConditionConfig>,
}

/// `drop_attributes:` — keys removed everywhere: resource, scope, span, span event, span link,
/// log record, data point and exemplar attributes, and metric `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropAttributesConfig {
    /// Exact keys. Default: none.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Key regexes (unanchored: `^code\.` for a prefix). Default: none.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// One drop condition; at least one part must be given, and every given part must match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Exact item name. Default: any name.
    #[serde(default)]
    pub name: Option<String>,
    /// Regex on the item name (unanchored). Not together with `name`. Default: any name.
    #[serde(default)]
    pub name_regex: Option<String>,
    /// Attribute key → expected value (scalar, compared as text) or `{ regex: ... }` /
    /// `{ value: ... }`. Default: none.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeMatch>,
}

/// How one attribute of a condition must look: exactly one of `value` or `regex`.
/// In YAML a bare scalar stands for `{ value: <scalar> }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct AttributeMatch {
    /// Equal as text (`200` matches the string `"200"` and the integer 200).
    #[serde(default)]
    pub value: Option<ConfigValue>,
    /// Regex on the value as text (unanchored).
    #[serde(default)]
    pub regex: Option<String>,
}

impl<'de> Deserialize<'de> for AttributeMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn value<E>(v: ConfigValue) -> Result<AttributeMatch, E> {
            Ok(AttributeMatch {
                value: Some(v),
                regex: None,
            })
        }
        impl<'de> Visitor<'de> for V {
            type Value = AttributeMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar value or a map with `value` or `regex`")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<AttributeMatch, E> {
                value(ConfigValue::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<AttributeMatch, E> {
                value(ConfigValue::Int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<AttributeMatch, E> {
                i64::try_from(u)
                    .map(ConfigValue::Int)
                    .map_err(|_| E::custom("integer too large"))
                    .and_then(value)
            }
            fn visit_f64<E: de::Error>(self, d: f64) -> Result<AttributeMatch, E> {
                value(ConfigValue::Double(d))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<AttributeMatch, E> {
                value(ConfigValue::String(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AttributeMatch, A::Error> {
                AttributeMatch::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug)]
enum NameTest {
    Exact(String),
    Regex(Pattern),
}

#[derive(Debug)]
enum ValueTest {
    Equals(String),
    Regex(Pattern),
}

/// A built [`AttributeMatch`]: a test on one value, compared as text. Shared with the routing
/// connector, so an attribute condition means the same wherever it is written.
#[derive(Debug)]
pub struct AttributeTest(ValueTest);

impl AttributeMatch {
    /// Builds the test; a problem is reported at `path` (the attribute's path in the config).
    pub fn build(&self, path: &str) -> Result<AttributeTest, BuildError> {
        match (&self.value, &self.regex) {
            (Some(v), None) => Ok(AttributeTest(ValueTest::Equals(config_text(v)))),
            (None, Some(re)) => match Pattern::new(re) {
                Ok(re) => Ok(AttributeTest(ValueTest::Regex(re))),
                Err(e) => Err(BuildError::field(
                    format!("{path}.regex"),
                    format!("invalid regex {re:?}: {e}"),
                )),
            },
            _ => Err(BuildError::field(
                path,
                "needs exactly one of `value` or `regex`",
            )),
        }
    }
}

impl AttributeTest {
    /// Whether `text` passes: equal, or the regex matches somewhere in it.
    pub fn matches_text(&self, text: &str) -> bool {
        match &self.0 {
            ValueTest::Equals(v) => v == text,
            ValueTest::Regex(re) => re.is_match(text),
        }
    }

    /// Whether attribute value `v` passes, in its text form (arrays, maps and bytes never do).
    pub fn matches(&self, v: &Value) -> bool {
        value_text(v).is_some_and(|text| self.matches_text(&text))
    }
}

#[derive(Debug)]
struct Condition {
    /// Position in its config list (for the counter label).
    index: usize,
    name: Option<NameTest>,
    attributes: Vec<(String, AttributeTest)>,
}

/// The conditions of one list, with plain exact-name conditions in a map.
#[derive(Debug)]
struct Matcher {
    /// Exact name → index of the first condition without `attributes` that matches exactly
    /// that name: `{ name: ... }`, or a `name_regex` that is only `^(a|b|...)$`.
    exact: StrMap<usize>,
    /// The lowest index in `exact` (`usize::MAX` when empty).
    exact_min: usize,
    /// Every other condition, in config order.
    others: Vec<Condition>,
    /// Counter label per condition index (`traces.span[3]`).
    labels: Vec<String>,
}

impl Matcher {
    fn build(
        path: &str,
        list: &[ConditionConfig],
        names_only: bool,
        errors: &mut Vec<BuildError>,
    ) -> Matcher {
        let mut m = Matcher {
            exact: StrMap::default(),
            exact_min: usize::MAX,
            others: Vec::new(),
            labels: Vec::new(),
        };
        for (i, c) in list.iter().enumerate() {
            let cpath = format!("{path}[{i}]");
            m.labels.push(cpath.clone());
            let before = errors.len();
            check_parts(&cpath, c, names_only, errors);
            let name = name_test(&cpath, c, errors);
            let attributes = attribute_tests(&cpath, c, errors);
            if errors.len() == before {
                m.add(i, name, attributes);
            }
        }
        m
    }

    /// Adds valid condition `index`: to `exact` when it is name-only and holds for a fixed set
    /// of names, else to `others`.
    fn add(
        &mut self,
        index: usize,
        name: Option<NameTest>,
        attributes: Vec<(String, AttributeTest)>,
    ) {
        let exact_names: Option<&[String]> = match &name {
            _ if !attributes.is_empty() => None,
            Some(NameTest::Exact(n)) => Some(std::slice::from_ref(n)),
            Some(NameTest::Regex(re)) => re.exact_strings(),
            None => None,
        };
        if let Some(names) = exact_names {
            for n in names {
                self.exact.insert_if_absent(n, index);
                self.exact_min = self.exact_min.min(index);
            }
            return;
        }
        self.others.push(Condition {
            index,
            name,
            attributes,
        });
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.others.is_empty()
    }

    /// Index of the first condition matching an item with these names and attributes.
    fn find(&self, names: &[&str], attrs: &[KeyValue]) -> Option<usize> {
        let exact_lookup = || {
            names
                .iter()
                .filter_map(|n| self.exact.get(n))
                .min()
                .copied()
        };
        // The other conditions in order; the exact names are looked up only once an exact
        // condition could come first.
        let mut exact: Option<Option<usize>> = None;
        for c in &self.others {
            if self.exact_min < c.index {
                if let Some(e) = *exact.get_or_insert_with(exact_lookup) {
                    if e < c.index {
                        return Some(e);
                    }
                }
            }
            if c.matches(names, attrs) {
                return Some(c.index);
            }
        }
        exact.unwrap_or_else(exact_lookup)
    }
}

/// Checks that condition `c` (at `cpath`) gives some part, and no attributes where only names
/// are allowed.
fn check_parts(cpath: &str, c: &ConditionConfig, names_only: bool, errors: &mut Vec<BuildError>) {
    if c.name.is_none() && c.name_regex.is_none() && c.attributes.is_empty() {
        errors.push(BuildError::field(
            cpath,
            "needs `name`, `name_regex` or `attributes` (an empty condition would drop everything)",
        ));
    }
    if names_only && !c.attributes.is_empty() {
        errors.push(BuildError::field(
            format!("{cpath}.attributes"),
            "metrics have no attributes; use a `metrics.datapoint` condition",
        ));
    }
}

/// The name test of condition `c` (at `cpath`), if it has a valid one.
fn name_test(cpath: &str, c: &ConditionConfig, errors: &mut Vec<BuildError>) -> Option<NameTest> {
    match (&c.name, &c.name_regex) {
        (Some(_), Some(_)) => {
            errors.push(BuildError::field(
                cpath,
                "use either `name` or `name_regex`, not both",
            ));
            None
        }
        (Some(n), None) => Some(NameTest::Exact(n.clone())),
        (None, Some(re)) => match Pattern::new(re) {
            Ok(re) => Some(NameTest::Regex(re)),
            Err(e) => {
                errors.push(BuildError::field(
                    format!("{cpath}.name_regex"),
                    format!("invalid regex {re:?}: {e}"),
                ));
                None
            }
        },
        (None, None) => None,
    }
}

/// The valid attribute tests of condition `c` (at `cpath`).
fn attribute_tests(
    cpath: &str,
    c: &ConditionConfig,
    errors: &mut Vec<BuildError>,
) -> Vec<(String, AttributeTest)> {
    let mut attributes = Vec::with_capacity(c.attributes.len());
    for (key, am) in &c.attributes {
        match am.build(&format!("{cpath}.attributes.{key}")) {
            Ok(test) => attributes.push((key.clone(), test)),
            Err(e) => errors.push(e),
        }
    }
    attributes
}

impl Condition {
    fn matches(&self, names: &[&str], attrs: &[KeyValue]) -> bool {
        let name_ok = match &self.name {
            None => true,
            Some(NameTest::Exact(n)) => names.iter().any(|x| bytes_eq(x.as_bytes(), n.as_bytes())),
            Some(NameTest::Regex(re)) => names.iter().any(|x| re.is_match(x)),
        };
        name_ok
            && self
                .attributes
                .iter()
                .all(|(key, test)| crate::find_attr(attrs, key).is_some_and(|v| test.matches(v)))
    }
}

/// Attribute removal by exact key and key regex.
#[derive(Debug, Default)]
struct AttributeDropper {
    keys: StrMap<usize>,
    patterns: Vec<(usize, Pattern)>,
    labels: Vec<String>,
}

impl AttributeDropper {
    fn build(cfg: &DropAttributesConfig, errors: &mut Vec<BuildError>) -> AttributeDropper {
        let mut d = AttributeDropper::default();
        for (i, key) in cfg.keys.iter().enumerate() {
            if key.is_empty() {
                errors.push(BuildError::field(
                    format!("drop_attributes.keys[{i}]"),
                    "empty key",
                ));
            } else if !d.keys.contains_key(key) {
                d.keys.insert_if_absent(key, d.labels.len());
                d.labels.push(key.clone());
            }
        }
        for (i, p) in cfg.patterns.iter().enumerate() {
            match Pattern::new(p) {
                Ok(re) => {
                    d.patterns.push((d.labels.len(), re));
                    d.labels.push(p.clone());
                }
                Err(e) => errors.push(BuildError::field(
                    format!("drop_attributes.patterns[{i}]"),
                    format!("invalid regex {p:?}: {e}"),
                )),
            }
        }
        d
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.patterns.is_empty()
    }

    fn rule_for(&self, key: &str) -> Option<usize> {
        self.keys.get(key).copied().or_else(|| {
            self.patterns
                .iter()
                .find(|(_, re)| re.is_match(key))
                .map(|(i, _)| *i)
        })
    }

    fn apply(&self, attrs: &mut Vec<KeyValue>, tally: &mut [u64]) {
        attrs.retain(|kv| match self.rule_for(&kv.key) {
            Some(i) => {
                if let Some(n) = tally.get_mut(i) {
                    *n += 1;
                }
                false
            }
            None => true,
        });
    }

    fn resource(&self, r: &mut Option<Resource>, tally: &mut [u64]) {
        if let Some(r) = r {
            self.apply(&mut r.attributes, tally);
        }
    }

    fn scope(&self, s: &mut Option<InstrumentationScope>, tally: &mut [u64]) {
        if let Some(s) = s {
            self.apply(&mut s.attributes, tally);
        }
    }

    fn exemplars(&self, ex: &mut [Exemplar], tally: &mut [u64]) {
        for e in ex {
            self.apply(&mut e.filtered_attributes, tally);
        }
    }

    fn metric(&self, m: &mut Metric, tally: &mut [u64]) {
        self.apply(&mut m.metadata, tally);
        match &mut m.data {
            Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| {
                self.apply(&mut p.attributes, tally);
                self.exemplars(&mut p.exemplars, tally);
            }),
            Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
                self.apply(&mut p.attributes, tally);
                self.exemplars(&mut p.exemplars, tally);
            }),
            Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
                self.apply(&mut p.attributes, tally);
                self.exemplars(&mut p.exemplars, tally);
            }),
            Some(Data::ExponentialHistogram(h)) => h.data_points.iter_mut().for_each(|p| {
                self.apply(&mut p.attributes, tally);
                self.exemplars(&mut p.exemplars, tally);
            }),
            Some(Data::Summary(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| self.apply(&mut p.attributes, tally)),
            None => {}
        }
    }
}

/// The built `filter` processor.
#[derive(Debug)]
pub struct FilterProcessor {
    span: Matcher,
    span_event: Matcher,
    log_record: Matcher,
    metric: Matcher,
    datapoint: Matcher,
    attributes: AttributeDropper,
}

impl FilterConfig {
    /// Checks every condition and pattern and builds the processor; all problems at once.
    pub fn build(&self) -> Result<FilterProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        let p = FilterProcessor {
            span: Matcher::build("traces.span", &self.traces.span, false, &mut errors),
            span_event: Matcher::build(
                "traces.span_event",
                &self.traces.span_event,
                false,
                &mut errors,
            ),
            log_record: Matcher::build(
                "logs.log_record",
                &self.logs.log_record,
                false,
                &mut errors,
            ),
            metric: Matcher::build("metrics.metric", &self.metrics.metric, true, &mut errors),
            datapoint: Matcher::build(
                "metrics.datapoint",
                &self.metrics.datapoint,
                false,
                &mut errors,
            ),
            attributes: AttributeDropper::build(&self.drop_attributes, &mut errors),
        };
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }
}

/// Per-request counts of removed attributes, per dropper label.
struct Tally {
    attrs: Vec<u64>,
}

impl Tally {
    fn new(p: &FilterProcessor) -> Self {
        Tally {
            attrs: vec![0; p.attributes.labels.len()],
        }
    }
}

/// Which matcher a drop came from, to find its label; also the order of the report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Span = 0,
    SpanEvent = 1,
    LogRecord = 2,
    Metric = 3,
    Datapoint = 4,
}

/// Per-request drop counts: items per condition index of each matcher (`None`: no drop).
#[derive(Default)]
struct Drops {
    counts: [Vec<Option<u64>>; 5],
}

impl Drops {
    const ORDER: [Which; 5] = [
        Which::Span,
        Which::SpanEvent,
        Which::LogRecord,
        Which::Metric,
        Which::Datapoint,
    ];

    fn add(&mut self, which: Which, index: usize, n: u64) {
        let counts = &mut self.counts[which as usize];
        if counts.len() <= index {
            counts.resize(index + 1, None);
        }
        *counts[index].get_or_insert(0) += n;
    }
}

impl FilterProcessor {
    fn matcher(&self, which: Which) -> &Matcher {
        match which {
            Which::Span => &self.span,
            Which::SpanEvent => &self.span_event,
            Which::LogRecord => &self.log_record,
            Which::Metric => &self.metric,
            Which::Datapoint => &self.datapoint,
        }
    }

    fn report(&self, drops: Drops, tally: Tally, cx: &mut ProcessContext<'_>) {
        for (which, counts) in Drops::ORDER.into_iter().zip(drops.counts) {
            for (index, n) in counts.into_iter().enumerate() {
                let Some(n) = n else { continue };
                if let Some(label) = self.matcher(which).labels.get(index) {
                    cx.count("filter_dropped", label, n);
                }
                if !matches!(which, Which::SpanEvent) {
                    cx.record_dropped(n);
                }
            }
        }
        for (label, n) in self.attributes.labels.iter().zip(tally.attrs) {
            if n > 0 {
                cx.count("attributes_dropped", label, n);
            }
        }
    }

    /// Drops the points of `m` matching `datapoint` conditions.
    fn filter_points(&self, m: &mut Metric, drops: &mut Drops) {
        fn retain<P>(
            points: &mut Vec<P>,
            attrs: impl Fn(&P) -> &[KeyValue],
            matcher: &Matcher,
            name: &str,
            drops: &mut Drops,
        ) {
            points.retain(|p| match matcher.find(&[name], attrs(p)) {
                Some(i) => {
                    drops.add(Which::Datapoint, i, 1);
                    false
                }
                None => true,
            });
        }
        let (name, data) = (m.name.as_str(), &mut m.data);
        let dp = &self.datapoint;
        match data {
            Some(Data::Gauge(g)) => retain(
                &mut g.data_points,
                |p: &NumberDataPoint| &p.attributes,
                dp,
                name,
                drops,
            ),
            Some(Data::Sum(s)) => retain(
                &mut s.data_points,
                |p: &NumberDataPoint| &p.attributes,
                dp,
                name,
                drops,
            ),
            Some(Data::Histogram(h)) => retain(
                &mut h.data_points,
                |p: &HistogramDataPoint| &p.attributes,
                dp,
                name,
                drops,
            ),
            Some(Data::ExponentialHistogram(h)) => retain(
                &mut h.data_points,
                |p: &ExponentialHistogramDataPoint| &p.attributes,
                dp,
                name,
                drops,
            ),
            Some(Data::Summary(s)) => retain(
                &mut s.data_points,
                |p: &SummaryDataPoint| &p.attributes,
                dp,
                name,
                drops,
            ),
            None => {}
        }
    }
}

impl Processor for FilterProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.span.is_empty() && self.span_event.is_empty() && self.attributes.is_empty() {
            return;
        }
        let mut drops = Drops::default();
        let mut tally = Tally::new(self);
        for rs in &mut req.resource_spans {
            for ss in &mut rs.scope_spans {
                if !self.span.is_empty() {
                    ss.spans
                        .retain(|s| match self.span.find(&[&s.name], &s.attributes) {
                            Some(i) => {
                                drops.add(Which::Span, i, 1);
                                false
                            }
                            None => true,
                        });
                }
                for span in &mut ss.spans {
                    if !self.span_event.is_empty() {
                        span.events.retain(|e| {
                            match self.span_event.find(&[&e.name], &e.attributes) {
                                Some(i) => {
                                    drops.add(Which::SpanEvent, i, 1);
                                    false
                                }
                                None => true,
                            }
                        });
                    }
                    if !self.attributes.is_empty() {
                        self.attributes
                            .apply(&mut span.attributes, &mut tally.attrs);
                        for e in &mut span.events {
                            self.attributes.apply(&mut e.attributes, &mut tally.attrs);
                        }
                        for l in &mut span.links {
                            self.attributes.apply(&mut l.attributes, &mut tally.attrs);
                        }
                    }
                }
                if !self.attributes.is_empty() {
                    self.attributes.scope(&mut ss.scope, &mut tally.attrs);
                }
            }
            if !self.attributes.is_empty() {
                self.attributes.resource(&mut rs.resource, &mut tally.attrs);
            }
        }
        self.report(drops, tally, cx);
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.metric.is_empty() && self.datapoint.is_empty() && self.attributes.is_empty() {
            return;
        }
        let mut drops = Drops::default();
        let mut tally = Tally::new(self);
        for rm in &mut req.resource_metrics {
            for sm in &mut rm.scope_metrics {
                if !self.metric.is_empty() {
                    sm.metrics
                        .retain(|m| match self.metric.find(&[&m.name], &[]) {
                            Some(i) => {
                                drops.add(Which::Metric, i, crate::metric_point_count(m) as u64);
                                false
                            }
                            None => true,
                        });
                }
                if !self.datapoint.is_empty() {
                    sm.metrics.retain_mut(|m| {
                        let before = crate::metric_point_count(m);
                        self.filter_points(m, &mut drops);
                        before == 0 || crate::metric_point_count(m) > 0
                    });
                }
                if !self.attributes.is_empty() {
                    for m in &mut sm.metrics {
                        self.attributes.metric(m, &mut tally.attrs);
                    }
                    self.attributes.scope(&mut sm.scope, &mut tally.attrs);
                }
            }
            if !self.attributes.is_empty() {
                self.attributes.resource(&mut rm.resource, &mut tally.attrs);
            }
        }
        self.report(drops, tally, cx);
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.log_record.is_empty() && self.attributes.is_empty() {
            return;
        }
        let mut drops = Drops::default();
        let mut tally = Tally::new(self);
        for rl in &mut req.resource_logs {
            for sl in &mut rl.scope_logs {
                if !self.log_record.is_empty() {
                    sl.log_records.retain(|lr| {
                        let attr_name = match crate::find_attr(&lr.attributes, "event.name") {
                            Some(Value::StringValue(s)) => s.as_str(),
                            _ => "",
                        };
                        let names = [lr.event_name.as_str(), attr_name];
                        let names = if attr_name.is_empty() || attr_name == lr.event_name {
                            &names[..1]
                        } else {
                            &names[..]
                        };
                        match self.log_record.find(names, &lr.attributes) {
                            Some(i) => {
                                drops.add(Which::LogRecord, i, 1);
                                false
                            }
                            None => true,
                        }
                    });
                }
                if !self.attributes.is_empty() {
                    for lr in &mut sl.log_records {
                        self.attributes.apply(&mut lr.attributes, &mut tally.attrs);
                    }
                    self.attributes.scope(&mut sl.scope, &mut tally.attrs);
                }
            }
            if !self.attributes.is_empty() {
                self.attributes.resource(&mut rl.resource, &mut tally.attrs);
            }
        }
        self.report(drops, tally, cx);
    }
}

impl crate::Component for FilterConfig {
    fn removes_items(&self) -> bool {
        true
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests;
