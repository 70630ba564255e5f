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
    /// The OpenTelemetry → Prometheus compatibility rules: underscore form plus a unit suffix
    /// (`_milliseconds`, `_bytes`, ...), `_total` on monotonic sums and `_ratio` on gauges of
    /// unit `1`. See [`prometheus_name`].
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

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_label_name(key: &str) -> bool {
    key.chars().all(is_label_char)
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && !key.contains("__")
}

/// A data point attribute key in label form: like [`underscore_name`] but `:` is replaced too
/// (Prometheus label names may not contain it). `tool.name` → `tool_name`, `http:status` →
/// `http_status`, `1st` → `_1st`.
pub fn label_name(key: &str) -> String {
    sanitize(key, is_label_char)
}

/// A UCUM unit code (annotations removed) → Prometheus unit word, for the main unit.
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
        "%" => "percent",
        _ => return None,
    })
}

/// A UCUM unit code → Prometheus unit word, for the unit after `/`. As in the Collector's
/// translator, `m` there reads "minute" (`1/m` → `per_minute`), not "meter".
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

/// Removes UCUM annotations (`{request}`) and surrounding spaces: `{packet}` → ``,
/// `By{compressed}` → `By`.
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// Splits into the tokens of the Prometheus name: runs of `[a-zA-Z0-9:]`.
fn name_tokens(s: &str) -> Vec<&str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The unit's word tokens for the name (`None`: no suffix), from the map or, for an unknown
/// unit, from the unit code itself (`tokens` → `tokens`).
fn unit_tokens(code: &str, known: Option<&'static str>) -> Vec<String> {
    match known {
        Some(word) => vec![word.to_string()],
        None => code
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Whether the name already carries the unit: the unit word is one of its tokens (the
/// Collector's rule), or it ends with the unit's tokens, or its last token is the unit code
/// itself (`..._duration_ms` with unit `ms`, any case).
fn has_unit(tokens: &[&str], unit_words: &[String], code: &str) -> bool {
    if unit_words.is_empty() {
        return true;
    }
    if unit_words.len() == 1 && tokens.iter().any(|t| *t == unit_words[0]) {
        return true;
    }
    if tokens.len() >= unit_words.len()
        && tokens[tokens.len() - unit_words.len()..]
            .iter()
            .zip(unit_words)
            .all(|(t, w)| *t == w)
    {
        return true;
    }
    let code_tokens = name_tokens(code);
    code_tokens.len() == 1
        && tokens
            .last()
            .is_some_and(|t| t.eq_ignore_ascii_case(code_tokens[0]))
}

/// The Prometheus form of a metric name, following the OpenTelemetry "Prometheus and
/// OpenMetrics Compatibility" rules as the Collector's translator implements them, with one
/// addition (a name ending with the unit code keeps it: `e2e_duration_ms` stays).
///
/// 1. The name is split into tokens at every character outside `[a-zA-Z0-9:]` (so runs of
///    separators collapse and leading/trailing ones disappear).
/// 2. Unit: UCUM annotations (`{...}`) are removed; `1` and an empty unit add nothing. The main
///    unit (before `/`) is mapped (`ms` → `milliseconds`, `s` → `seconds`, `By` → `bytes`,
///    `KiBy` → `kibibytes`, `%` → `percent`, ...; unknown units are used as written, cleaned)
///    and appended unless the name already has it: the word is one of the name's tokens, or the
///    name ends with it, or the name's last token is the unit code itself (`wait_ms` with unit
///    `ms`). The unit after `/` is appended as `per_<word>` (`s` → `second`, `m` → `minute`,
///    `h` → `hour`, ...) unless that word is already a token; if the name already ends with
///    `per_<word>`, the main unit is checked and inserted in front of that tail.
/// 3. Monotonic sums: every `total` token is removed (before step 2) and `total` appended at
///    the end (never `_total_total`).
/// 4. Gauges with unit `1`: likewise with `ratio`.
/// 5. Tokens are joined with `_`; a leading digit gets a `_` prefix.
///
/// Histograms and summaries get only the unit suffix: the `_bucket`, `_sum` and `_count` series
/// suffixes are the exporter's business.
///
/// `prometheus_name("codex.tool.call", "", MonotonicSum)` = `codex_tool_call_total`;
/// `prometheus_name("codex.tool.call.duration_ms", "ms", Histogram)` =
/// `codex_tool_call_duration_ms`; `prometheus_name("http.server.duration", "ms", Histogram)` =
/// `http_server_duration_milliseconds`.
pub fn prometheus_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> = name_tokens(name).into_iter().map(String::from).collect();
    let unit = strip_annotations(unit);
    let ratio = kind == MetricKind::Gauge && unit == "1";
    // The type suffix is re-appended at the end; without it the unit checks below see the
    // name the way they saw it the first time (`s_total` with unit `s` stays `s_total`).
    match kind {
        MetricKind::MonotonicSum => tokens.retain(|t| t != "total"),
        _ if ratio => tokens.retain(|t| t != "ratio"),
        _ => {}
    }
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), p.trim()),
        None => (unit.as_str(), ""),
    };
    let per_words = if per.is_empty() || per == "1" {
        Vec::new()
    } else {
        unit_tokens(per, per_unit_word(per))
    };
    // A name that already ends with `per_<unit>` gets its main unit in front of that tail.
    let per_tail = per_words.len() + 1;
    let ends_with_per = !per_words.is_empty()
        && tokens.len() >= per_tail
        && tokens[tokens.len() - per_tail] == "per"
        && tokens[tokens.len() - per_words.len()..] == per_words[..];
    let head_len = if ends_with_per {
        tokens.len() - per_tail
    } else {
        tokens.len()
    };
    if !main.is_empty() && main != "1" {
        let words = unit_tokens(main, main_unit_word(main));
        let head: Vec<&str> = tokens[..head_len].iter().map(String::as_str).collect();
        if !has_unit(&head, &words, main) {
            let tail = tokens.split_off(head_len);
            tokens.extend(words);
            tokens.extend(tail);
        }
    }
    let per_present = ends_with_per
        || match per_words.as_slice() {
            [] => true,
            [word] => tokens.contains(word),
            _ => false,
        };
    if !per_present {
        tokens.push("per".to_string());
        tokens.extend(per_words);
    }
    if kind == MetricKind::MonotonicSum {
        tokens.push("total".to_string());
    } else if ratio {
        tokens.push("ratio".to_string());
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
    fn label_names_lose_colons_too() {
        assert_eq!(label_name("tool.name"), "tool_name");
        assert_eq!(label_name("http:status"), "http_status");
        assert_eq!(label_name("1st"), "_1st");
    }

    #[test]
    fn prometheus_adds_unit_and_total_suffixes_once() {
        // name | unit | kind | expected
        let cases = "
            codex.tool.call              |                | counter   | codex_tool_call_total
            codex.tool.call              | 1              | counter   | codex_tool_call_total
            requests_total               |                | counter   | requests_total
            total.requests               |                | counter   | requests_total
            http.server.duration         | ms             | histogram | http_server_duration_milliseconds
            http.server.duration         | s              | histogram | http_server_duration_seconds
            rpc.duration_milliseconds    | ms             | histogram | rpc_duration_milliseconds
            codex.turn.e2e_duration_ms   | ms             | histogram | codex_turn_e2e_duration_ms
            codex.shell_snapshot.wait_ms | ms             | histogram | codex_shell_snapshot_wait_ms
            io.read                      | By             | counter   | io_read_bytes_total
            io.read.bytes                | By             | counter   | io_read_bytes_total
            io.read_bytes_total          | By             | counter   | io_read_bytes_total
            mem.heap                     | MiBy           | gauge     | mem_heap_mebibytes
            cpu.utilization              | 1              | gauge     | cpu_utilization_ratio
            cpu.ratio                    | 1              | gauge     | cpu_ratio
            cpu.utilization              | 1              | updown    | cpu_utilization
            queue.size                   | {item}         | updown    | queue_size
            net.io                       | By{compressed} | counter   | net_io_bytes_total
            packets.rate                 | {packet}/s     | gauge     | packets_rate_per_second
            throughput                   | By/s           | gauge     | throughput_bytes_per_second
            events                       | 1/m            | gauge     | events_per_minute
            turns                        | tokens         | summary   | turns_tokens
            temp                         | Cel            | gauge     | temp_celsius
            disk.free                    | %              | gauge     | disk_free_percent
            5xx.errors                   |                | counter   | _5xx_errors_total
            ..odd..name..                |                | gauge     | odd_name
            x                            | ms             | exphist   | x_milliseconds
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
    fn prometheus_is_idempotent() {
        for (name, unit, kind) in [
            ("codex.tool.call", "", MonotonicSum),
            ("http.server.duration", "ms", Histogram),
            ("io.read", "By", MonotonicSum),
            ("cpu.utilization", "1", Gauge),
            ("packets", "{packet}/s", Gauge),
        ] {
            let once = prometheus_name(name, unit, kind);
            assert_eq!(prometheus_name(&once, unit, kind), once);
        }
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
            "codex_turn_e2e_duration_ms"
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
            assert!(
                !n.contains("_total_total") && !n.contains("_ms_milliseconds"),
                "{n}"
            );
        }
        assert!(after.contains(&"codex_tool_call_total".to_string()));
        assert!(after.contains(&"codex_turn_e2e_duration_ms".to_string()));
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
