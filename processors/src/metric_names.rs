//! `metric_names` processor: renames metrics (and optionally data point attribute keys) into the
//! underscore form that Prometheus-style backends accept.
//!
//! Place in the flow: metrics pipeline only, usually the last renaming step before the exporters
//! (and before or after `delta_to_cumulative`; the stream identity uses whatever name arrives).
//! Traces and logs pass through untouched. Codex sends dotted names (`codex.tool.call`); a
//! Prometheus-style backend either rejects them or rewrites them itself, each in its own way.
//!
//! ```yaml
//! metric_names:
//!   mode: prometheus          # underscore (default) | prometheus
//!   rename:                   # exact names, applied first
//!     codex.turn.e2e_duration_ms: codex.turn.duration
//!   rename_regex:             # applied after `rename`; the first matching rule wins
//!     - { pattern: "^codex\\.sqlite\\.(.*)$", replacement: "codex.db.sqlite.${1}" }
//!   attributes: true          # data point attribute keys too (default false)
//! ```
//!
//! Order for each metric: `rename` (exact) → `rename_regex` (first matching rule) → `mode`.
//! The mode is always applied last, so a name given in `rename` is still normalised (and, in
//! `prometheus` mode, still gets its unit and `_total` suffixes).
//!
//! The naming rules are exposed as pure functions ([`underscore_name`], [`prometheus_name`],
//! [`label_name`]) for the exporters that need them (e.g. Prometheus remote write).

use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// How metric names are normalised after the renames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameMode {
    /// Every character outside `[a-zA-Z0-9_:]` becomes `_`, runs of `_` collapse to one, a
    /// leading digit gets a `_` prefix: `codex.tool.call` → `codex_tool_call`. See
    /// [`underscore_name`].
    #[default]
    Underscore,
    /// The OpenTelemetry → Prometheus compatibility rules, exactly as translating backends
    /// (Prometheus, Mimir / Grafana Cloud, the Collector's Prometheus exporters) apply them:
    /// underscore form plus a unit suffix (`_milliseconds`, `_bytes`, ...), `_total` on
    /// monotonic sums and `_ratio` on gauges of unit `1`. See [`prometheus_name`].
    Prometheus,
}

impl NameMode {
    /// `underscore` or `prometheus`, as written in config (and used as the count label).
    pub fn as_str(self) -> &'static str {
        match self {
            NameMode::Underscore => "underscore",
            NameMode::Prometheus => "prometheus",
        }
    }
}

/// One regex rename rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRegexConfig {
    /// A regex (Rust `regex` syntax) searched in the metric name. Required.
    pub pattern: String,
    /// What every match is replaced with; `$1`, `${1}`, `$name`, `${name}` insert capture
    /// groups and `$$` a literal `$`. Write `${1}_x`, not `$1_x` (that names a group `1_x`):
    /// a reference to a group the pattern does not have is a build error. Required.
    pub replacement: String,
}

/// Config of the `metric_names` processor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricNamesConfig {
    /// `underscore` or `prometheus`, applied to every metric after the renames.
    /// Default: `underscore`.
    #[serde(default)]
    pub mode: NameMode,
    /// Exact renames, `original.name: new_name`, applied first. The new name is still
    /// normalised by `mode`. Default: empty.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Regex renames, tried in order on the name produced by `rename`; the first rule whose
    /// pattern matches replaces every match and ends the search. Applied before `mode`.
    /// A rule producing an empty name is ignored for that metric. Default: empty.
    #[serde(default)]
    pub rename_regex: Vec<RenameRegexConfig>,
    /// Also normalise the attribute keys of every data point with [`label_name`]
    /// (`tool.name` → `tool_name`). Resource and scope attributes are left alone: they become
    /// `target_info` / job labels elsewhere, and other processors match on their dotted keys.
    /// Default: `false`.
    #[serde(default)]
    pub attributes: bool,
}

/// The kind of a metric, as far as naming is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A gauge.
    Gauge,
    /// A monotonic sum (a Prometheus counter): gets `_total`.
    MonotonicSum,
    /// A non-monotonic sum (an up-down counter; a Prometheus gauge).
    NonMonotonicSum,
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram.
    ExponentialHistogram,
    /// A summary.
    Summary,
}

impl MetricKind {
    /// The kind of `metric`, or `None` when it carries no data.
    pub fn of(metric: &Metric) -> Option<MetricKind> {
        Some(match metric.data.as_ref()? {
            Data::Gauge(_) => MetricKind::Gauge,
            Data::Sum(s) if s.is_monotonic => MetricKind::MonotonicSum,
            Data::Sum(_) => MetricKind::NonMonotonicSum,
            Data::Histogram(_) => MetricKind::Histogram,
            Data::ExponentialHistogram(_) => MetricKind::ExponentialHistogram,
            Data::Summary(_) => MetricKind::Summary,
        })
    }
}

/// The built `metric_names` processor.
#[derive(Debug)]
pub struct MetricNamesProcessor {
    mode: NameMode,
    rename: HashMap<String, String>,
    rename_regex: Vec<(Regex, String)>,
    attributes: bool,
}

impl MetricNamesConfig {
    /// Checks the renames and builds the processor; all problems are returned at once.
    pub fn build(&self) -> Result<MetricNamesProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        for (from, to) in &self.rename {
            if from.is_empty() {
                errors.push(BuildError::field(
                    "rename",
                    "a metric name to rename is empty",
                ));
            }
            if to.is_empty() {
                errors.push(BuildError::field(
                    format!("rename.{from}"),
                    "the new name is empty",
                ));
            }
        }
        let mut rename_regex = Vec::with_capacity(self.rename_regex.len());
        for (i, rule) in self.rename_regex.iter().enumerate() {
            match Regex::new(&rule.pattern) {
                Ok(re) => match check_replacement(&re, &rule.replacement) {
                    Ok(()) => rename_regex.push((re, rule.replacement.clone())),
                    Err(msg) => errors.push(BuildError::field(
                        format!("rename_regex[{i}].replacement"),
                        msg,
                    )),
                },
                Err(e) => errors.push(BuildError::field(
                    format!("rename_regex[{i}].pattern"),
                    format!("invalid regex {:?}: {e}", rule.pattern),
                )),
            }
        }
        if errors.is_empty() {
            Ok(MetricNamesProcessor {
                mode: self.mode,
                rename: self
                    .rename
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                rename_regex,
                attributes: self.attributes,
            })
        } else {
            Err(errors)
        }
    }
}

/// Checks that every group a replacement string refers to exists in `re`, following the
/// `regex` crate's syntax (`$$`, `${name}`, `$name` with the longest `[_0-9A-Za-z]` run).
fn check_replacement(re: &Regex, replacement: &str) -> Result<(), String> {
    let bytes = replacement.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let rest = &replacement[i + 1..];
        let (name, braced, used) = if rest.starts_with('$') {
            i += 2;
            continue;
        } else if let Some(inner) = rest.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], true, end + 2),
                // Not a reference for the regex crate: a literal `${`.
                None => ("", true, 1),
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], false, end)
        };
        i += 1 + used;
        if name.is_empty() {
            continue;
        }
        let exists = match name.parse::<usize>() {
            Ok(index) => index < re.captures_len(),
            Err(_) => re.capture_names().any(|n| n == Some(name)),
        };
        if !exists {
            let digits = name.bytes().take_while(u8::is_ascii_digit).count();
            let hint = if !braced && digits > 0 && digits < name.len() {
                format!(
                    "; to insert group {} followed by {:?}, write ${{{}}}{}",
                    &name[..digits],
                    &name[digits..],
                    &name[..digits],
                    &name[digits..]
                )
            } else {
                String::new()
            };
            return Err(format!(
                "refers to capture group `{name}`, which the pattern does not have{hint}"
            ));
        }
    }
    Ok(())
}

impl MetricNamesProcessor {
    /// The mode this processor normalises with.
    pub fn mode(&self) -> NameMode {
        self.mode
    }

    /// The final name of a metric named `name` with `unit` and `kind` (`None`: a metric without
    /// data, which only gets the underscore form): renames, then the mode.
    pub fn metric_name(&self, name: &str, unit: &str, kind: Option<MetricKind>) -> String {
        let renamed = self.rename.get(name).map_or(name, String::as_str);
        let mut replaced = None;
        for (re, replacement) in &self.rename_regex {
            if re.is_match(renamed) {
                let out = re.replace_all(renamed, replacement.as_str());
                if !out.is_empty() {
                    replaced = Some(out.into_owned());
                }
                break;
            }
        }
        let base = replaced.as_deref().unwrap_or(renamed);
        match (self.mode, kind) {
            (NameMode::Prometheus, Some(kind)) => prometheus_name(base, unit, kind),
            _ => underscore_name(base),
        }
    }

    /// Renames the keys of one data point's attributes. A key that collides with another after
    /// renaming (`tool.name` next to `tool_name`) is dropped: a key already in label form wins,
    /// otherwise the first one in list order.
    fn rename_attributes(&self, attrs: &mut Vec<KeyValue>, collisions: &mut u64) {
        if attrs.iter().all(|kv| is_label_name(&kv.key)) {
            return;
        }
        let mut taken: Vec<String> = attrs
            .iter()
            .filter(|kv| is_label_name(&kv.key))
            .map(|kv| kv.key.clone())
            .collect();
        let before = attrs.len();
        attrs.retain_mut(|kv| {
            if is_label_name(&kv.key) {
                return true;
            }
            let key = label_name(&kv.key);
            if taken.contains(&key) {
                return false;
            }
            taken.push(key.clone());
            kv.key = key;
            true
        });
        *collisions += (before - attrs.len()) as u64;
    }
}

impl Processor for MetricNamesProcessor {
    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        let mut renamed = 0u64;
        let mut collisions = 0u64;
        for m in req
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            let name = self.metric_name(&m.name, &m.unit, MetricKind::of(m));
            if name != m.name {
                m.name = name;
                renamed += 1;
            }
            if self.attributes {
                let c = &mut collisions;
                crate::for_each_point_attributes(m, |a| self.rename_attributes(a, c))
            }
        }
        if renamed > 0 {
            cx.count("metrics_renamed", self.mode.as_str(), renamed);
        }
        if collisions > 0 {
            cx.count(
                "metric_attribute_key_collisions",
                self.mode.as_str(),
                collisions,
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Naming rules
// ------------------------------------------------------------------------------------------------

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Replaces every character outside `allowed` with `_`, collapses runs of `_`, and prefixes a
/// leading digit with `_`.
fn sanitize(name: &str, allowed: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in name.chars() {
        let c = if allowed(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The `underscore` form of a metric name: every character outside `[a-zA-Z0-9_:]` becomes `_`,
/// runs of `_` collapse to one, and a name starting with a digit gets a `_` prefix.
///
/// `codex.tool.call` → `codex_tool_call`; `codex.turn.e2e_duration_ms` →
/// `codex_turn_e2e_duration_ms`; `2xx.count` → `_2xx_count`. Nothing else changes (no unit or
/// type suffix, no trimming, case kept).
pub fn underscore_name(name: &str) -> String {
    sanitize(name, is_name_char)
}

fn is_label_name(key: &str) -> bool {
    label_name(key) == key
}

/// A data point attribute key in label form, as the OpenTelemetry → Prometheus translators
/// (Prometheus' and Mimir's OTLP endpoints, the Collector's Prometheus exporters) write it:
/// every character outside `[a-zA-Z0-9_]` becomes `_`, runs of `_` collapse to one, and a key
/// starting with a digit gets the prefix `key_`. A reserved `__name__`-style key keeps its
/// double underscores at both ends. `tool.name` → `tool_name`, `http:status` →
/// `http_status`, `1st` → `key_1st`, `a__b` → `a_b`.
pub fn label_name(key: &str) -> String {
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inner = if reserved {
        &key[2..key.len() - 2]
    } else {
        key
    };
    let mut out = String::with_capacity(key.len() + 4);
    if reserved {
        out.push_str("__");
    }
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') || (reserved && out.len() == 2) {
            out.push('_');
        }
    }
    if reserved {
        out.push_str("__");
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

/// A UCUM unit → the word a Prometheus name carries for it (`1` carries none). Units missing
/// here are used as written (cleaned by [`clean_unit`]).
fn main_unit_word(code: &str) -> Option<&'static str> {
    Some(match code {
        // Time
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        // Bytes
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        // SI
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        // Misc
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

/// The unit after `/` → its word (`1/s` → `per_second`). As in the translators, `m` there reads
/// "minute", not "meter".
fn per_unit_word(code: &str) -> Option<&'static str> {
    Some(match code {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// A unit suffix in name form: every character outside `[a-zA-Z0-9:]` becomes `_`, runs of `_`
/// collapse, one leading `_` goes (a trailing one stays, as in the translators).
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_token_char(c) { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    match out.strip_prefix('_') {
        Some(rest) => rest.to_string(),
        None => out,
    }
}

/// The main and `per_` suffixes of a unit, cleaned; empty when there is none. A part holding a
/// UCUM annotation (`{request}`, `By{compressed}`) adds nothing; neither does `1`.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let annotated = |s: &str| s.contains(['{', '}']);
    let main = main.trim();
    let main = if main.is_empty() || annotated(main) {
        String::new()
    } else {
        clean_unit(main_unit_word(main).unwrap_or(main))
    };
    let per = match per.map(str::trim) {
        Some(p) if !p.is_empty() && !annotated(p) => {
            clean_unit(&format!("per_{}", per_unit_word(p).unwrap_or(p)))
        }
        _ => String::new(),
    };
    (main, per)
}

/// The Prometheus name of an OpenTelemetry metric, exactly as the OpenTelemetry → Prometheus
/// translators derive it (the "Prometheus and OpenMetrics Compatibility" specification as
/// implemented by `prometheus/otlptranslator`, which Prometheus' and Grafana Mimir's OTLP
/// endpoints and the Collector's Prometheus exporters use), so a series written by the
/// gateway has the name a vendor's OTLP endpoint gives the same data:
///
/// 1. The name is split into tokens at every character outside `[a-zA-Z0-9:]` (`_` included,
///    so runs of separators collapse and leading/trailing ones disappear).
/// 2. The unit is split at its first `/`. The main part (trimmed) is mapped to a word (`ms` →
///    `milliseconds`, `s` → `seconds`, `By` → `bytes`, `1` → nothing, ...; unknown units as
///    written) and appended unless it is already one of the name's tokens. The part after `/`
///    becomes `per_<word>` (`s` → `per_second`, `m` → `per_minute`, ...) and is always
///    appended. A part holding `{` or `}` (a UCUM annotation) adds nothing.
/// 3. Monotonic sums: every `total` token is removed and `total` appended.
/// 4. Gauges whose unit is exactly `1`: every `ratio` token is removed and `ratio` appended.
/// 5. Tokens are joined with `_`; a name starting with a digit gets a `_` prefix.
///
/// Histograms and summaries get only the unit suffix: the `_bucket`, `_sum` and `_count` series
/// suffixes are the exporter's business. A name already carrying its unit word keeps it once,
/// but a unit code in the name is not the word: `codex.turn.ttft.duration_ms` with unit `ms`
/// is `codex_turn_ttft_duration_ms_milliseconds` (what Last9 and Grafana Cloud show).
///
/// Applying the rules to their own output changes nothing as long as the unit has no `/` and
/// its word is one token (every unit in the table, and any alphanumeric unit); with a `/` the
/// `per_` suffix is appended again, exactly as a translating backend would.
pub fn prometheus_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<&str> = name
        .split(|c: char| !is_token_char(c))
        .filter(|t| !t.is_empty())
        .collect();
    let (mut main, per) = unit_suffixes(unit);
    let per = per.trim_end_matches('_');
    let per = if per == "per" || tokens.contains(&per) {
        ""
    } else {
        per
    };
    if tokens.contains(&main.as_str()) {
        main.clear();
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(&main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    let suffix = match kind {
        MetricKind::MonotonicSum => Some("total"),
        MetricKind::Gauge if unit == "1" => Some("ratio"),
        _ => None,
    };
    if let Some(suffix) = suffix {
        tokens.retain(|t| *t != suffix);
        tokens.push(suffix);
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl crate::Component for MetricNamesConfig {
    fn signals(&self) -> &'static [crate::Signal] {
        &[crate::Signal::Metrics]
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
    use crate::Metadata;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
    use opentelemetry_proto::tonic::metrics::v1::{Gauge, NumberDataPoint, Sum};
    use prost::Message;
    use MetricKind::*;

    fn metrics_fixture(session: &str, file: &str) -> ExportMetricsServiceRequest {
        let path = format!(
            "{}/../tests/fixtures/{session}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).expect("fixture");
        ExportMetricsServiceRequest::decode(body.as_slice()).expect("decode")
    }

    fn names(req: &ExportMetricsServiceRequest) -> Vec<String> {
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.clone())
            .collect()
    }

    fn kv(key: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(key.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn underscore_replaces_collapses_and_protects_a_leading_digit() {
        assert_eq!(underscore_name("codex.tool.call"), "codex_tool_call");
        assert_eq!(underscore_name("a..b--c"), "a_b_c");
        assert_eq!(underscore_name("a__b"), "a_b");
        assert_eq!(underscore_name("2xx.count"), "_2xx_count");
        assert_eq!(underscore_name("ns:rule.x"), "ns:rule_x");
        assert_eq!(underscore_name("größe"), "gr_e");
        assert_eq!(underscore_name("already_fine"), "already_fine");
        assert_eq!(underscore_name(""), "");
    }

    #[test]
    fn label_names_follow_the_translators() {
        assert_eq!(label_name("tool.name"), "tool_name");
        assert_eq!(label_name("http:status"), "http_status");
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("a__b..c"), "a_b_c");
        assert_eq!(label_name("_private"), "_private");
        assert_eq!(label_name("__name__"), "__name__");
        assert_eq!(label_name("__a.b__"), "__a_b__");
        assert_eq!(label_name("größe"), "gr_e");
        for key in ["tool_name", "key_1st", "_x", "__name__"] {
            assert!(is_label_name(key), "{key}");
        }
        for key in ["tool.name", "1st", "a__b"] {
            assert!(!is_label_name(key), "{key}");
        }
    }

    /// Expected names: the translators' own test vectors (prometheus/otlptranslator
    /// `metric_namer_test.go`, the Collector's `normalize_name_test.go`), the names the vendors'
    /// Codex guides query (Last9: `codex_turn_ttft_duration_ms_milliseconds`,
    /// `codex_tool_call_total`, `codex_turn_token_usage`) and the gateway's own metrics.
    #[test]
    fn prometheus_names_are_the_translators_names() {
        // name | unit | kind | expected
        let cases = "
            simple_metric                   |                | gauge     | simple_metric
            metric@with#special$chars       |                | gauge     | metric_with_special_chars
            123metric                       |                | gauge     | _123metric
            metric@@##$$name                |                | gauge     | metric_name
            requests                        |                | counter   | requests_total
            cpu_usage                       | 1              | gauge     | cpu_usage_ratio
            items                           | 1              | counter   | items_total
            response_time                   | ms             | gauge     | response_time_milliseconds
            memory_usage                    | By             | gauge     | memory_usage_bytes
            requests                        | 1/s            | gauge     | requests_per_second
            throughput                      | By/s           | gauge     | throughput_bytes_per_second
            custom_metric                   | custom_unit    | gauge     | custom_metric_custom_unit
            custom_metric                   | {custom}       | gauge     | custom_metric
            custom_metric                   | By/{custom}    | gauge     | custom_metric_bytes
            requests_total                  |                | counter   | requests_total
            cpu_usage_ratio                 | 1              | gauge     | cpu_usage_ratio
            response_time_seconds           | s              | gauge     | response_time_seconds
            cpu_seconds_total               | s              | counter   | cpu_seconds_total
            otelcol_process_cpu_seconds     | s              | counter   | otelcol_process_cpu_seconds_total
            system.filesystem.usage         | By             | gauge     | system_filesystem_usage_bytes
            system.network.dropped          | {packets}      | counter   | system_network_dropped_total
            system.network.dropped          | packets        | counter   | system_network_dropped_packets_total
            system.memory.utilization       | 1              | gauge     | system_memory_utilization_ratio
            total.requests                  |                | counter   | requests_total
            http.server.duration            | ms             | histogram | http_server_duration_milliseconds
            rpc.duration_milliseconds       | ms             | histogram | rpc_duration_milliseconds
            cpu.utilization                 | 1              | updown    | cpu_utilization
            queue.size                      | {item}         | updown    | queue_size
            net.io                          | By{compressed} | counter   | net_io_total
            packets.rate                    | {packet}/s     | gauge     | packets_rate_per_second
            events                          | 1/m            | gauge     | events_per_minute
            rate_per_second                 | 1/s            | gauge     | rate_per_second_per_second
            turns                           | tokens         | summary   | turns_tokens
            temp                            | Cel            | gauge     | temp_celsius
            disk.free                       | %              | gauge     | disk_free_percent
            5xx.errors                      |                | counter   | _5xx_errors_total
            ..odd..name..                   |                | gauge     | odd_name
            x                               | ms             | exphist   | x_milliseconds
            codex.tool.call                 |                | counter   | codex_tool_call_total
            codex.turn.token_usage          |                | histogram | codex_turn_token_usage
            codex.turn.ttft.duration_ms     | ms             | histogram | codex_turn_ttft_duration_ms_milliseconds
            codex.shell_snapshot.wait_ms    | ms             | histogram | codex_shell_snapshot_wait_ms_milliseconds
            codex.auth.selection.duration   | ms             | histogram | codex_auth_selection_duration_milliseconds
            codex.sqlite.init.count         |                | counter   | codex_sqlite_init_count_total
            codex.thread.skills.kept_total  |                | histogram | codex_thread_skills_kept_total
            codex_tokens                    | {token}        | counter   | codex_tokens_total
            codex_cost_usd                  | USD            | counter   | codex_cost_usd_USD_total
            codex_tool_duration             | ms             | histogram | codex_tool_duration_milliseconds
            codex_alerts                    | {alert}        | counter   | codex_alerts_total
        ";
        for line in cases.lines().filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            let kind = match cols[2] {
                "counter" => MonotonicSum,
                "updown" => NonMonotonicSum,
                "gauge" => Gauge,
                "histogram" => Histogram,
                "exphist" => ExponentialHistogram,
                "summary" => Summary,
                other => panic!("kind {other}"),
            };
            assert_eq!(prometheus_name(cols[0], cols[1], kind), cols[3], "{line}");
        }
    }

    #[test]
    fn unit_edge_cases_follow_the_translators_too() {
        // The unit is trimmed; a trailing separator of an unknown unit stays (and is dropped
        // before a `per_` part); an empty or annotated per part adds nothing.
        assert_eq!(prometheus_name("x", " ms ", Gauge), "x_milliseconds");
        assert_eq!(prometheus_name("x", "a.", Gauge), "x_a_");
        assert_eq!(prometheus_name("x", "a./s", Gauge), "x_a_per_second");
        assert_eq!(prometheus_name("x", "By/", Gauge), "x_bytes");
        assert_eq!(prometheus_name("x", "By/ ", Gauge), "x_bytes");
        assert_eq!(prometheus_name("x", "By/.", Gauge), "x_bytes");
        assert_eq!(prometheus_name("x", "1/{req}", Gauge), "x");
        assert_eq!(prometheus_name("x", "By/1", Gauge), "x_bytes_per_1");
        // `ratio` needs the unit to be exactly "1".
        assert_eq!(prometheus_name("x", " 1", Gauge), "x");
        assert_eq!(prometheus_name("", "", Gauge), "");
        assert_eq!(prometheus_name("...", "", MonotonicSum), "total");
    }

    #[test]
    fn prometheus_names_are_stable_for_single_word_units() {
        for (name, unit, kind) in [
            ("codex.tool.call", "", MonotonicSum),
            ("codex.turn.ttft.duration_ms", "ms", Histogram),
            ("io.read", "By", MonotonicSum),
            ("cpu.utilization", "1", Gauge),
            ("codex_cost_usd", "USD", MonotonicSum),
            ("queue", "{item}", NonMonotonicSum),
        ] {
            let once = prometheus_name(name, unit, kind);
            assert_eq!(prometheus_name(&once, unit, kind), once);
        }
        // A `per_` part is appended again, as a translating backend would do.
        let once = prometheus_name("throughput", "By/s", Gauge);
        assert_eq!(
            prometheus_name(&once, "By/s", Gauge),
            "throughput_bytes_per_second_per_second"
        );
    }

    #[test]
    fn exact_rename_then_regex_then_mode() {
        let p = MetricNamesConfig {
            mode: NameMode::Prometheus,
            rename: BTreeMap::from([("codex.tool.call".into(), "codex.tools.invoked".into())]),
            rename_regex: vec![
                RenameRegexConfig {
                    pattern: r"^codex\.tools\.(.*)$".into(),
                    replacement: "agent.tools.${1}".into(),
                },
                RenameRegexConfig {
                    pattern: "^agent".into(),
                    replacement: "never".into(),
                },
            ],
            attributes: false,
        }
        .build()
        .expect("valid");
        assert_eq!(
            p.metric_name("codex.tool.call", "", Some(MonotonicSum)),
            "agent_tools_invoked_total"
        );
        assert_eq!(
            p.metric_name("codex.turn.e2e_duration_ms", "ms", Some(Histogram)),
            "codex_turn_e2e_duration_ms_milliseconds"
        );
        assert_eq!(p.metric_name("no.data", "ms", None), "no_data");
    }

    #[test]
    fn build_reports_bad_patterns_and_missing_groups_with_their_index() {
        let cfg = MetricNamesConfig {
            rename: BTreeMap::from([("x".into(), String::new())]),
            rename_regex: vec![
                RenameRegexConfig {
                    pattern: "(".into(),
                    replacement: "y".into(),
                },
                RenameRegexConfig {
                    pattern: r"^codex\.(.*)$".into(),
                    replacement: "$1_x".into(),
                },
                RenameRegexConfig {
                    pattern: r"^codex\.(?P<rest>.*)$".into(),
                    replacement: "$$${rest}.$1.$2".into(),
                },
                RenameRegexConfig {
                    pattern: r"^codex\.(?P<rest>.*)$".into(),
                    replacement: "$$${rest}.$1.$rest".into(),
                },
            ],
            ..Default::default()
        };
        let errs = cfg.build().expect_err("invalid");
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].starts_with("rename.x: "), "{text:?}");
        assert!(
            text[1].starts_with("rename_regex[0].pattern: invalid regex"),
            "{text:?}"
        );
        assert!(
            text[2].starts_with("rename_regex[1].replacement: "),
            "{text:?}"
        );
        assert!(text[2].contains("write ${1}_x"), "{text:?}");
        assert!(
            text[3].starts_with("rename_regex[2].replacement: "),
            "{text:?}"
        );
        assert!(text[3].contains("`2`"), "{text:?}");
    }

    #[test]
    fn config_deserializes_with_defaults_and_rejects_unknown_fields() {
        let cfg: MetricNamesConfig = serde_json::from_str("{}").expect("empty config");
        assert_eq!(cfg, MetricNamesConfig::default());
        assert_eq!(cfg.mode, NameMode::Underscore);
        let cfg: MetricNamesConfig = serde_json::from_str(
            r#"{"mode":"prometheus","rename":{"a.b":"c"},"rename_regex":[{"pattern":"x","replacement":"y"}],"attributes":true}"#,
        )
        .expect("full config");
        assert_eq!(cfg.mode, NameMode::Prometheus);
        assert!(cfg.attributes);
        assert!(serde_json::from_str::<MetricNamesConfig>(r#"{"modes":"x"}"#).is_err());
        assert!(serde_json::from_str::<MetricNamesConfig>(r#"{"mode":"dots"}"#).is_err());
    }

    #[test]
    fn attribute_keys_are_renamed_on_data_points_only_and_existing_keys_win_collisions() {
        let mut req = ExportMetricsServiceRequest {
            resource_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ResourceMetrics {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: vec![kv("service.name")],
                    ..Default::default()
                }),
                scope_metrics: vec![opentelemetry_proto::tonic::metrics::v1::ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "codex.tool.call".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: vec![NumberDataPoint {
                                    attributes: vec![kv("tool.name"), kv("tool_name"), kv("ok")],
                                    ..Default::default()
                                }],
                                is_monotonic: true,
                                ..Default::default()
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "already_ok".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint {
                                    attributes: vec![kv("fine")],
                                    ..Default::default()
                                }],
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let p = MetricNamesConfig {
            attributes: true,
            ..Default::default()
        }
        .build()
        .expect("valid");
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_metrics(&mut req, &mut cx);
        let rm = &req.resource_metrics[0];
        assert_eq!(
            rm.resource.as_ref().expect("resource").attributes[0].key,
            "service.name"
        );
        let m = &rm.scope_metrics[0].metrics[0];
        assert_eq!(m.name, "codex_tool_call");
        let Some(Data::Sum(s)) = &m.data else {
            panic!("sum")
        };
        let keys: Vec<&str> = s.data_points[0]
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, ["tool_name", "ok"]);
        // The key that was already in label form wins over the renamed one.
        assert_eq!(
            crate::find_attr(&s.data_points[0].attributes, "tool_name"),
            Some(&Value::StringValue("tool_name".into()))
        );
        assert_eq!(
            cx.counts(),
            &[
                ("metrics_renamed", "underscore".to_string(), 1),
                (
                    "metric_attribute_key_collisions",
                    "underscore".to_string(),
                    1
                )
            ]
        );
    }

    #[test]
    fn prometheus_mode_renames_every_fixture_metric_and_counts_them() {
        let mut req = metrics_fixture("failing-tool-loop-protobuf", "004_metrics.pb");
        let before = names(&req);
        assert!(before.iter().all(|n| n.starts_with("codex.")));
        let p = MetricNamesConfig {
            mode: NameMode::Prometheus,
            ..Default::default()
        }
        .build()
        .expect("valid");
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_metrics(&mut req, &mut cx);
        let after = names(&req);
        assert_eq!(after.len(), before.len());
        let valid = Regex::new("^[a-zA-Z_:][a-zA-Z0-9_:]*$").expect("regex");
        for n in &after {
            assert!(valid.is_match(n), "{n}");
            assert!(!n.contains("_total_total"), "{n}");
        }
        assert!(after.contains(&"codex_tool_call_total".to_string()));
        assert!(after.contains(&"codex_turn_e2e_duration_ms_milliseconds".to_string()));
        assert_eq!(
            cx.counts(),
            &[(
                "metrics_renamed",
                "prometheus".to_string(),
                before.len() as u64
            )]
        );
        // A second pass changes nothing.
        let mut cx = ProcessContext::new(&md);
        p.process_metrics(&mut req, &mut cx);
        assert_eq!(names(&req), after);
        assert!(cx.counts().is_empty());
    }
}
