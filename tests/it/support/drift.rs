//! Codex drift: what names a Codex CLI sends (event names, log attribute keys, metric names and
//! their point attribute keys, span names, span attribute keys, span events, resource attribute
//! keys, instrumentation scopes), and which of them the gateway does not know yet.
//!
//! "Known" means: listed in the generated inventory of `docs/metric-names.md` (section
//! [`BEGIN`] … [`END`]), or handled by the `codex` normaliser (an attribute key it types), or by
//! the filter lists of `config/examples/codex-lean.yaml` (a span it drops, an attribute key it
//! removes), or stripped by the `cardinality` processor's Codex preset. The normaliser and the
//! filter are asked by running them, so the check follows their real behaviour.
//!
//! Used by `tests/it/codex_drift.rs` (the pinned versions must send nothing unknown; with
//! `UPDATE_DOCS=1` it rewrites the inventory) and by `scripts/codex-drift VERSION`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Opens the generated inventory in `docs/metric-names.md`.
pub const BEGIN: &str = "<!-- BEGIN GENERATED CODEX INVENTORY (tests/it/codex_drift.rs) -->";
/// Closes it.
pub const END: &str = "<!-- END GENERATED CODEX INVENTORY -->";

/// The event-name placeholder of log records without an `event.name` attribute.
pub const NO_EVENT: &str = "(no event.name)";

/// Names of one kind, each with the Codex versions (`service.version`) that sent it.
pub type Seen = BTreeMap<String, BTreeSet<String>>;

/// Everything a set of Codex sessions sent, by kind.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    /// Resource attribute keys by signal (`logs`, `metrics`, `traces`).
    pub resource_keys: BTreeMap<String, Seen>,
    /// Instrumentation scope names by signal.
    pub scopes: BTreeMap<String, Seen>,
    /// Log events (`event.name`) with their attribute keys.
    pub events: BTreeMap<String, (BTreeSet<String>, Seen)>,
    /// Metrics with their kind and data point attribute keys.
    pub metrics: BTreeMap<String, (String, BTreeSet<String>, Seen)>,
    /// Span names.
    pub spans: Seen,
    /// Span attribute keys (all spans).
    pub span_keys: Seen,
    /// Span events (by their `event.name` attribute, else their name without a line number)
    /// with their attribute keys.
    pub span_events: BTreeMap<String, (BTreeSet<String>, Seen)>,
}

fn text(v: Option<&AnyValue>) -> Option<String> {
    match v?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn add(seen: &mut Seen, name: &str, version: &str) {
    seen.entry(name.to_string())
        .or_default()
        .insert(version.to_string());
}

fn add_keys(seen: &mut Seen, attrs: &[KeyValue], version: &str) {
    for kv in attrs {
        add(seen, &kv.key, version);
    }
}

/// A tracing call site without its line number (`event otel/src/x.rs:837` → `event
/// otel/src/x.rs`): line numbers change with every release.
fn without_line(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((head, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    }
}

/// `service.version` of a resource, or `?`.
fn version_of(attrs: Option<&[KeyValue]>) -> String {
    attrs
        .and_then(|a| text(find(a, "service.version")))
        .unwrap_or_else(|| "?".into())
}

/// The kind column of a metric: `sum (monotonic, delta)`, `histogram (delta)`, ...
fn metric_kind(m: &Metric) -> String {
    let t = |x: i32| match x {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    };
    match &m.data {
        Some(Data::Sum(s)) => format!(
            "sum ({}{})",
            if s.is_monotonic { "monotonic, " } else { "" },
            t(s.aggregation_temporality)
        ),
        Some(Data::Histogram(h)) => format!("histogram ({})", t(h.aggregation_temporality)),
        Some(Data::ExponentialHistogram(h)) => {
            format!("exponential histogram ({})", t(h.aggregation_temporality))
        }
        Some(Data::Gauge(_)) => "gauge".into(),
        Some(Data::Summary(_)) => "summary".into(),
        None => "no data".into(),
    }
}

/// Attribute lists of every data point of `m`.
fn point_attributes(m: &Metric) -> Vec<&[KeyValue]> {
    match &m.data {
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| &p.attributes[..]).collect(),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        Some(Data::Summary(s)) => s.data_points.iter().map(|p| &p.attributes[..]).collect(),
        None => Vec::new(),
    }
}

impl Inventory {
    /// Adds a resource's attribute keys under `signal`; returns its `service.version`.
    fn add_resource(
        &mut self,
        signal: &str,
        r: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
    ) -> String {
        let attrs = r.map(|r| &r.attributes[..]);
        let v = version_of(attrs);
        let keys = self.resource_keys.entry(signal.into()).or_default();
        add_keys(keys, attrs.unwrap_or_default(), &v);
        v
    }

    fn add_scope(
        &mut self,
        signal: &str,
        scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
        version: &str,
    ) {
        let name = scope.map(|s| s.name.as_str()).unwrap_or("");
        add(self.scopes.entry(signal.into()).or_default(), name, version);
    }

    /// Adds what `req` carries.
    pub fn add_logs(&mut self, req: &ExportLogsServiceRequest) {
        for rl in &req.resource_logs {
            let v = self.add_resource("logs", rl.resource.as_ref());
            for sl in &rl.scope_logs {
                self.add_scope("logs", sl.scope.as_ref(), &v);
                for r in &sl.log_records {
                    let name = text(find(&r.attributes, "event.name"))
                        .unwrap_or_else(|| NO_EVENT.to_string());
                    let entry = self.events.entry(name).or_default();
                    entry.0.insert(v.clone());
                    add_keys(&mut entry.1, &r.attributes, &v);
                }
            }
        }
    }

    /// Adds what `req` carries.
    pub fn add_metrics(&mut self, req: &ExportMetricsServiceRequest) {
        for rm in &req.resource_metrics {
            let v = self.add_resource("metrics", rm.resource.as_ref());
            for sm in &rm.scope_metrics {
                self.add_scope("metrics", sm.scope.as_ref(), &v);
                for m in &sm.metrics {
                    let entry = self
                        .metrics
                        .entry(m.name.clone())
                        .or_insert_with(|| (metric_kind(m), BTreeSet::new(), Seen::new()));
                    entry.1.insert(v.clone());
                    for attrs in point_attributes(m) {
                        add_keys(&mut entry.2, attrs, &v);
                    }
                }
            }
        }
    }

    /// Adds what `req` carries.
    pub fn add_traces(&mut self, req: &ExportTraceServiceRequest) {
        for rs in &req.resource_spans {
            let v = self.add_resource("traces", rs.resource.as_ref());
            for ss in &rs.scope_spans {
                self.add_scope("traces", ss.scope.as_ref(), &v);
                for span in &ss.spans {
                    add(&mut self.spans, &span.name, &v);
                    add_keys(&mut self.span_keys, &span.attributes, &v);
                    for e in &span.events {
                        let name = text(find(&e.attributes, "event.name"))
                            .unwrap_or_else(|| without_line(&e.name).to_string());
                        let entry = self.span_events.entry(name).or_default();
                        entry.0.insert(v.clone());
                        add_keys(&mut entry.1, &e.attributes, &v);
                    }
                }
            }
        }
    }

    /// The versions any name was seen from.
    pub fn versions(&self) -> BTreeSet<String> {
        self.resource_keys
            .values()
            .flat_map(|s| s.values().flatten().cloned())
            .collect()
    }

    /// Adds everything of `other`.
    pub fn merge(&mut self, other: &Inventory) {
        fn seen(a: &mut Seen, b: &Seen) {
            for (k, v) in b {
                a.entry(k.clone()).or_default().extend(v.iter().cloned());
            }
        }
        for (sig, s) in &other.resource_keys {
            seen(self.resource_keys.entry(sig.clone()).or_default(), s);
        }
        for (sig, s) in &other.scopes {
            seen(self.scopes.entry(sig.clone()).or_default(), s);
        }
        for (name, (v, keys)) in &other.events {
            let e = self.events.entry(name.clone()).or_default();
            e.0.extend(v.iter().cloned());
            seen(&mut e.1, keys);
        }
        for (name, (kind, v, keys)) in &other.metrics {
            let e = self
                .metrics
                .entry(name.clone())
                .or_insert_with(|| (kind.clone(), BTreeSet::new(), Seen::new()));
            e.1.extend(v.iter().cloned());
            seen(&mut e.2, keys);
        }
        seen(&mut self.spans, &other.spans);
        seen(&mut self.span_keys, &other.span_keys);
        for (name, (v, keys)) in &other.span_events {
            let e = self.span_events.entry(name.clone()).or_default();
            e.0.extend(v.iter().cloned());
            seen(&mut e.1, keys);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The generated docs section
// ------------------------------------------------------------------------------------------------

/// `` `name` `` plus ` *(0.171.0)*` when seen from fewer versions than `all`.
fn tick(name: &str, seen: &BTreeSet<String>, all: &BTreeSet<String>) -> String {
    let name = name.replace('|', "\\|");
    if seen == all {
        format!("`{name}`")
    } else {
        let v: Vec<&str> = seen.iter().map(String::as_str).collect();
        format!("`{name}` *({})*", v.join(", "))
    }
}

fn list(seen: &Seen, parent: &BTreeSet<String>) -> String {
    seen.iter()
        .map(|(k, v)| tick(k, v, parent))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The inventory as the markdown between [`BEGIN`] and [`END`] (markers included).
pub fn render(inv: &Inventory, sources: &str) -> String {
    let all = inv.versions();
    let versions: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "Codex versions: {}. Sources: {sources}. A name without a version mark was seen from \
         every version; *(0.171.0)* marks one seen from only the versions listed (for a key: \
         fewer versions than its event, metric or signal).\n",
        versions.join(", ")
    );
    let _ = writeln!(
        out,
        "### Resource attributes\n\n| signal | keys |\n| --- | --- |"
    );
    for (sig, keys) in &inv.resource_keys {
        let _ = writeln!(out, "| `{sig}` | {} |", list(keys, &all));
    }
    let _ = writeln!(
        out,
        "\n### Instrumentation scopes\n\n| signal | scopes |\n| --- | --- |"
    );
    for (sig, scopes) in &inv.scopes {
        let _ = writeln!(out, "| `{sig}` | {} |", list(scopes, &all));
    }
    let _ = writeln!(
        out,
        "\n### Log events\n\n| `event.name` | attribute keys |\n| --- | --- |"
    );
    for (name, (v, keys)) in &inv.events {
        let _ = writeln!(out, "| {} | {} |", tick(name, v, &all), list(keys, v));
    }
    let _ = writeln!(
        out,
        "\n### Metrics\n\n| metric | type | data point attribute keys |\n| --- | --- | --- |"
    );
    for (name, (kind, v, keys)) in &inv.metrics {
        let _ = writeln!(
            out,
            "| {} | {kind} | {} |",
            tick(name, v, &all),
            list(keys, v)
        );
    }
    let _ = writeln!(out, "\n### Span names\n\n{}", list(&inv.spans, &all));
    let _ = writeln!(
        out,
        "\n### Span attribute keys\n\n{}",
        list(&inv.span_keys, &all)
    );
    let _ = writeln!(
        out,
        "\n### Span events\n\n| span event | attribute keys |\n| --- | --- |"
    );
    for (name, (v, keys)) in &inv.span_events {
        let _ = writeln!(out, "| {} | {} |", tick(name, v, &all), list(keys, v));
    }
    let _ = writeln!(out, "{END}");
    out
}

/// The names of the generated section of `doc`, by heading: table rows give `(first name,
/// other names)`, prose lines give their names. `None` when the markers are missing.
pub fn parse(doc: &str) -> Option<BTreeMap<String, BTreeMap<String, BTreeSet<String>>>> {
    let start = doc.find(BEGIN)?;
    let end = doc[start..].find(END)? + start;
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut heading = String::new();
    for line in doc[start..end].lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim().to_string();
            continue;
        }
        let names = backticked(line);
        let section = out.entry(heading.clone()).or_default();
        if line.starts_with("| `") {
            let mut it = names.into_iter();
            if let Some(first) = it.next() {
                section.entry(first).or_default().extend(it);
            }
        } else {
            for n in names {
                section.entry(n).or_default();
            }
        }
    }
    Some(out)
}

/// Every `` `…` `` of `line`, unescaped (`\|` → `|`).
fn backticked(line: &str) -> Vec<String> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.replace("\\|", "|"))
        .collect()
}

/// `docs/metric-names.md`.
pub fn docs_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metric-names.md")
}

/// Replaces the generated section of `doc` (appended at the end when missing).
pub fn splice(doc: &str, section: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(s), Some(e)) if e > s => {
            format!(
                "{}{}{}",
                &doc[..s],
                section.trim_end(),
                &doc[e + END.len()..]
            )
        }
        _ => format!("{}\n{section}", doc.trim_end()),
    }
}

// ------------------------------------------------------------------------------------------------
// What the gateway knows
// ------------------------------------------------------------------------------------------------

/// What the docs, the normaliser and the filter lists know.
pub struct Known {
    docs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    filter: std::sync::Arc<dyn processors::Processor>,
    codex: processors::codex::CodexProcessor,
    stripped: BTreeSet<String>,
}

impl Known {
    /// Reads `docs/metric-names.md` and builds `filter/codex-lean` from
    /// `config/examples/codex-lean.yaml` and the `codex` normaliser with its defaults.
    pub fn load() -> Known {
        let doc = std::fs::read_to_string(docs_path()).expect("read docs/metric-names.md");
        let docs = parse(&doc).unwrap_or_default();
        let lean = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/codex-lean.yaml"),
        )
        .expect("read codex-lean.yaml");
        let cfg = codex_otel_gateway::config::load_str(&lean, &|_| None)
            .unwrap_or_else(|d| panic!("codex-lean.yaml: {d:?}"))
            .config;
        let filter = match cfg.processors.get("filter/codex-lean") {
            Some(codex_otel_gateway::pipeline::processors::ProcessorConfig::Filter(f)) => {
                std::sync::Arc::new(f.build().expect("filter builds")) as _
            }
            _ => panic!("codex-lean.yaml has no filter/codex-lean"),
        };
        let codex = processors::codex::CodexConfig::default()
            .build()
            .expect("codex builds");
        let stripped = processors::cardinality::CODEX_PER_EVENT_KEYS
            .iter()
            .map(|k| k.to_string())
            .collect();
        Known {
            docs,
            filter,
            codex,
            stripped,
        }
    }

    fn doc(&self, heading: &str) -> Option<&BTreeMap<String, BTreeSet<String>>> {
        self.docs.get(heading)
    }

    fn doc_has(&self, heading: &str, name: &str) -> bool {
        self.doc(heading).is_some_and(|m| m.contains_key(name))
    }

    fn doc_has_key(&self, heading: &str, parent: &str, key: &str) -> bool {
        self.doc(heading)
            .and_then(|m| m.get(parent))
            .is_some_and(|keys| keys.contains(key))
    }

    /// The spans of `names` the codex-lean filter drops.
    fn filtered_spans(&self, names: &[&String]) -> BTreeSet<String> {
        let spans = names
            .iter()
            .map(|n| Span {
                name: (*n).clone(),
                ..Default::default()
            })
            .collect();
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let md = processors::Metadata::default();
        let mut cx = processors::ProcessContext::new(&md);
        self.filter.process_traces(&mut req, &mut cx);
        let kept: BTreeSet<String> = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        names
            .iter()
            .filter(|n| !kept.contains(**n))
            .map(|n| (*n).clone())
            .collect()
    }

    /// Whether the normaliser types `key` (as a number or a boolean), the codex-lean filter
    /// removes it, or the cardinality preset strips it.
    fn handles_key(&self, key: &str) -> bool {
        if self.stripped.contains(key) {
            return true;
        }
        let attr = |v: &str| KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.to_string())),
            }),
            ..Default::default()
        };
        let mut req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        attributes: vec![attr("1"), attr("true")],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let md = processors::Metadata::default();
        let mut cx = processors::ProcessContext::new(&md);
        processors::Processor::process_logs(&self.codex, &mut req, &mut cx);
        let typed = req.resource_logs[0].scope_logs[0].log_records[0]
            .attributes
            .iter()
            .any(|kv| {
                !matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(any_value::Value::StringValue(_))
                )
            });
        typed || self.filter_drops_key(key)
    }

    fn filter_drops_key(&self, key: &str) -> bool {
        let mut req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "drift".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![KeyValue {
                                    key: key.to_string(),
                                    value: Some(AnyValue {
                                        value: Some(any_value::Value::IntValue(1)),
                                    }),
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            ..Default::default()
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let md = processors::Metadata::default();
        let mut cx = processors::ProcessContext::new(&md);
        self.filter.process_metrics(&mut req, &mut cx);
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .flat_map(point_attributes)
            .all(|a| a.is_empty())
    }
}

/// One unknown name: its kind, where it was seen (event, metric or signal), and the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unknown {
    /// `event`, `log attribute`, `metric`, `metric attribute`, `span`, `span attribute`,
    /// `span event`, `span event attribute`, `resource attribute`, `scope`.
    pub kind: &'static str,
    /// The event, metric or signal it belongs to (empty for spans and span attributes).
    pub parent: String,
    /// The name.
    pub name: String,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.parent.is_empty() {
            write!(f, "{:<21} {}", self.kind, self.name)
        } else {
            write!(f, "{:<21} {} (on {})", self.kind, self.name, self.parent)
        }
    }
}

/// Every name of `inv` that `known` does not know, sorted.
pub fn unknown(inv: &Inventory, known: &Known) -> Vec<Unknown> {
    let mut out = BTreeSet::new();
    let mut push = |kind, parent: &str, name: &str| {
        out.insert(Unknown {
            kind,
            parent: parent.to_string(),
            name: name.to_string(),
        });
    };
    for (sig, keys) in &inv.resource_keys {
        for k in keys.keys() {
            if !known.doc_has_key("Resource attributes", sig, k) {
                push("resource attribute", sig, k);
            }
        }
    }
    for (sig, scopes) in &inv.scopes {
        for s in scopes.keys() {
            if !known.doc_has_key("Instrumentation scopes", sig, s) {
                push("scope", sig, s);
            }
        }
    }
    for (name, (_, keys)) in &inv.events {
        if !known.doc_has("Log events", name) {
            push("event", "", name);
        }
        for k in keys.keys() {
            if !known.doc_has_key("Log events", name, k) && !known.handles_key(k) {
                push("log attribute", name, k);
            }
        }
    }
    for (name, (_, _, keys)) in &inv.metrics {
        if !known.doc_has("Metrics", name) {
            push("metric", "", name);
        }
        for k in keys.keys() {
            if !known.doc_has_key("Metrics", name, k) && !known.handles_key(k) {
                push("metric attribute", name, k);
            }
        }
    }
    let spans: Vec<&String> = inv
        .spans
        .keys()
        .filter(|s| !known.doc_has("Span names", s))
        .collect();
    let dropped = known.filtered_spans(&spans);
    for s in spans {
        if !dropped.contains(s) {
            push("span", "", s);
        }
    }
    for k in inv.span_keys.keys() {
        if !known.doc_has("Span attribute keys", k) && !known.handles_key(k) {
            push("span attribute", "", k);
        }
    }
    for (name, (_, keys)) in &inv.span_events {
        if !known.doc_has("Span events", name) {
            push("span event", "", name);
        }
        for k in keys.keys() {
            if !known.doc_has_key("Span events", name, k) && !known.handles_key(k) {
                push("span event attribute", name, k);
            }
        }
    }
    out.into_iter().collect()
}

/// The report `scripts/codex-drift` prints.
pub fn report(label: &str, inv: &Inventory, unknown: &[Unknown]) -> String {
    let mut out = format!(
        "Codex drift report for {label} (service.version: {}):\n  {} events, {} metrics, {} span names, {} span attribute keys seen\n",
        inv.versions().into_iter().collect::<Vec<_>>().join(", "),
        inv.events.len(),
        inv.metrics.len(),
        inv.spans.len(),
        inv.span_keys.len(),
    );
    if unknown.is_empty() {
        out.push_str("  nothing unknown: docs/metric-names.md, the codex normaliser and the codex-lean filter know every name\n");
    } else {
        let _ = writeln!(
            out,
            "  {} names unknown to docs/metric-names.md, the codex normaliser and the codex-lean filter:",
            unknown.len()
        );
        for u in unknown {
            let _ = writeln!(out, "    {u}");
        }
    }
    out
}
