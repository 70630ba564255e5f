//! Everything a fake backend received, decoded to text: every string field of every OTLP
//! message (resource and scope attributes, scope name and version, schema URLs; log record
//! attributes, body, event name and severity text; span name, attributes, trace state, events,
//! links and status; metric name, description, unit, data point and exemplar attributes) and
//! every integer value, each with the paths it was found at. The backends decoded what arrived in
//! protobuf or OTLP JSON, so this is every byte of text the gateway sent, in either encoding;
//! [`Exported::find_all`] also looks inside base64 runs.

use std::collections::BTreeMap;

use aho_corasick::AhoCorasick;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use super::backends::FakeBackend;
use super::fixtures::attr_text;

/// Where a string was exported: backend, signal, item (event name, span name or metric name)
/// and attribute path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub backend: String,
    pub signal: &'static str,
    pub item: String,
    pub key: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} / {}",
            self.backend, self.signal, self.item, self.key
        )
    }
}

/// The decoded content of one or more backends.
#[derive(Default)]
pub struct Exported {
    /// Each distinct string with every place it was exported.
    pub strings: BTreeMap<String, Vec<Location>>,
    /// The decoded base64 runs of every string, with the string's first location (made once).
    decoded: std::sync::OnceLock<Vec<(String, String)>>,
}

impl Exported {
    /// Adds every string of `other` (merging locations).
    pub fn merge(&mut self, other: &Exported) {
        for (s, locs) in &other.strings {
            let mine = self.strings.entry(s.clone()).or_default();
            for l in locs {
                if !mine.contains(l) {
                    mine.push(l.clone());
                }
            }
        }
    }

    /// Adds everything `backend` received, labelled `label`.
    pub fn add_backend(&mut self, label: &str, backend: &FakeBackend) {
        for r in backend.received_logs() {
            for rl in &r.resource_logs {
                let res = rl.resource.as_ref().map(|r| r.attributes.as_slice());
                self.attrs(label, "logs", "resource", "", res.unwrap_or_default());
                self.put(label, "logs", "resource", "schema_url", &rl.schema_url);
                for sl in &rl.scope_logs {
                    self.scope(label, "logs", sl.scope.as_ref(), &sl.schema_url);
                    for rec in &sl.log_records {
                        let item = attr_text(&rec.attributes, "event.name")
                            .unwrap_or_else(|| rec.event_name.clone());
                        self.put(label, "logs", &item, "event_name", &rec.event_name);
                        self.put(label, "logs", &item, "severity_text", &rec.severity_text);
                        self.attrs(label, "logs", &item, "", &rec.attributes);
                        if let Some(body) = &rec.body {
                            self.value(label, "logs", &item, "body", body);
                        }
                    }
                }
            }
        }
        for r in backend.received_traces() {
            for rs in &r.resource_spans {
                let res = rs.resource.as_ref().map(|r| r.attributes.as_slice());
                self.attrs(label, "traces", "resource", "", res.unwrap_or_default());
                self.put(label, "traces", "resource", "schema_url", &rs.schema_url);
                for ss in &rs.scope_spans {
                    self.scope(label, "traces", ss.scope.as_ref(), &ss.schema_url);
                    for span in &ss.spans {
                        let item = span.name.clone();
                        self.put(label, "traces", &item, "name", &span.name);
                        self.put(label, "traces", &item, "trace_state", &span.trace_state);
                        self.attrs(label, "traces", &item, "", &span.attributes);
                        for e in &span.events {
                            self.put(label, "traces", &item, "event.name", &e.name);
                            self.attrs(
                                label,
                                "traces",
                                &item,
                                &format!("event:{}.", e.name),
                                &e.attributes,
                            );
                        }
                        for l in &span.links {
                            self.attrs(label, "traces", &item, "link.", &l.attributes);
                            self.put(label, "traces", &item, "link.trace_state", &l.trace_state);
                        }
                        if let Some(st) = &span.status {
                            self.put(label, "traces", &item, "status.message", &st.message);
                        }
                    }
                }
            }
        }
        for r in backend.received_metrics() {
            for rm in &r.resource_metrics {
                let res = rm.resource.as_ref().map(|r| r.attributes.as_slice());
                self.attrs(label, "metrics", "resource", "", res.unwrap_or_default());
                self.put(label, "metrics", "resource", "schema_url", &rm.schema_url);
                for sm in &rm.scope_metrics {
                    self.scope(label, "metrics", sm.scope.as_ref(), &sm.schema_url);
                    for m in &sm.metrics {
                        let item = m.name.clone();
                        self.put(label, "metrics", &item, "name", &m.name);
                        self.put(label, "metrics", &item, "description", &m.description);
                        self.put(label, "metrics", &item, "unit", &m.unit);
                        self.attrs(label, "metrics", &item, "metadata.", &m.metadata);
                        for attrs in point_attributes(m.data.as_ref()) {
                            self.attrs(label, "metrics", &item, "", attrs);
                        }
                    }
                }
            }
        }
    }

    fn put(&mut self, backend: &str, signal: &'static str, item: &str, key: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        let loc = Location {
            backend: backend.to_owned(),
            signal,
            item: item.to_owned(),
            key: key.to_owned(),
        };
        let locs = self.strings.entry(text.to_owned()).or_default();
        if !locs.contains(&loc) {
            locs.push(loc);
        }
    }

    fn scope(
        &mut self,
        b: &str,
        signal: &'static str,
        scope: Option<&InstrumentationScope>,
        schema_url: &str,
    ) {
        if let Some(s) = scope {
            self.put(b, signal, "scope", "name", &s.name);
            self.put(b, signal, "scope", "version", &s.version);
            self.attrs(b, signal, "scope", "", &s.attributes);
        }
        self.put(b, signal, "scope", "schema_url", schema_url);
    }

    fn attrs(
        &mut self,
        b: &str,
        signal: &'static str,
        item: &str,
        prefix: &str,
        attrs: &[KeyValue],
    ) {
        for kv in attrs {
            if let Some(v) = &kv.value {
                self.value(b, signal, item, &format!("{prefix}{}", kv.key), v);
            }
        }
    }

    fn value(&mut self, b: &str, signal: &'static str, item: &str, key: &str, v: &AnyValue) {
        match &v.value {
            Some(V::StringValue(s)) => self.put(b, signal, item, key, s),
            Some(V::BytesValue(bytes)) => {
                self.put(b, signal, item, key, &String::from_utf8_lossy(bytes))
            }
            Some(V::IntValue(i)) => self.put(b, signal, item, key, &i.to_string()),
            Some(V::ArrayValue(a)) => {
                for (i, x) in a.values.iter().enumerate() {
                    self.value(b, signal, item, &format!("{key}[{i}]"), x);
                }
            }
            Some(V::KvlistValue(l)) => self.attrs(b, signal, item, &format!("{key}."), &l.values),
            _ => {}
        }
    }

    /// For each needle, the first place it occurs: in a string, or (when `in_base64`) in the
    /// decoded text of a base64 run of a string.
    pub fn find_all(&self, needles: &[&str], in_base64: bool) -> Vec<Option<String>> {
        let mut found: Vec<Option<String>> = vec![None; needles.len()];
        let ids: Vec<usize> = (0..needles.len())
            .filter(|&i| !needles[i].is_empty())
            .collect();
        if ids.is_empty() {
            return found;
        }
        let ac = AhoCorasick::new(ids.iter().map(|&i| needles[i])).expect("automaton");
        let mut record = |hay: &[u8], place: &dyn Fn() -> String| {
            for m in ac.find_overlapping_iter(hay) {
                let i = ids[m.pattern().as_usize()];
                if found[i].is_none() {
                    found[i] = Some(place());
                }
            }
        };
        if in_base64 {
            let decoded = self.decoded.get_or_init(|| {
                self.strings
                    .iter()
                    .flat_map(|(s, locs)| {
                        let place = format!("{} (base64-decoded)", locs[0]);
                        base64_runs(s).into_iter().map(move |d| (d, place.clone()))
                    })
                    .collect()
            });
            for (d, place) in decoded {
                record(d.as_bytes(), &|| place.clone());
            }
        } else {
            for (s, locs) in &self.strings {
                record(s.as_bytes(), &|| locs[0].to_string());
            }
        }
        found
    }

    /// The strings exported to `backend`.
    pub fn strings_of<'a>(&'a self, backend: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.strings
            .iter()
            .filter(move |(_, locs)| locs.iter().any(|l| l.backend == backend))
            .map(|(s, _)| s.as_str())
    }
}

fn point_attributes(data: Option<&Data>) -> Vec<&[KeyValue]> {
    let mut out: Vec<&[KeyValue]> = Vec::new();
    match data {
        Some(Data::Gauge(g)) => {
            for p in &g.data_points {
                out.push(&p.attributes);
                out.extend(p.exemplars.iter().map(|e| e.filtered_attributes.as_slice()));
            }
        }
        Some(Data::Sum(s)) => {
            for p in &s.data_points {
                out.push(&p.attributes);
                out.extend(p.exemplars.iter().map(|e| e.filtered_attributes.as_slice()));
            }
        }
        Some(Data::Histogram(h)) => {
            for p in &h.data_points {
                out.push(&p.attributes);
                out.extend(p.exemplars.iter().map(|e| e.filtered_attributes.as_slice()));
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            for p in &h.data_points {
                out.push(&p.attributes);
                out.extend(p.exemplars.iter().map(|e| e.filtered_attributes.as_slice()));
            }
        }
        Some(Data::Summary(s)) => out.extend(s.data_points.iter().map(|p| p.attributes.as_slice())),
        None => {}
    }
    out
}

/// The decoded text of every base64 (standard or URL-safe) run of 16+ characters in `s`.
pub fn base64_runs(s: &str) -> Vec<String> {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let std = GeneralPurpose::new(&alphabet::STANDARD, config);
    let url = GeneralPurpose::new(&alphabet::URL_SAFE, config);
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
    let mut i = 0;
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        let mut run = &s[start..i];
        if run.len() < 16 {
            continue;
        }
        if run.len() % 4 == 1 {
            run = &run[..run.len() - 1];
        }
        for engine in [&std, &url] {
            if let Ok(d) = engine.decode(run) {
                out.push(String::from_utf8_lossy(&d).into_owned());
            }
        }
    }
    out
}
