//! Keeps the table of `docs/metric-names.md` in step with the code and the fixtures: the table is
//! generated here from every metric of the four real Codex sessions in `tests/fixtures` and
//! compared with the file. On a difference the test fails with a diff;
//! `UPDATE_DOCS=1 cargo test -p processors --test metric_names_docs` rewrites the table.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use processors::metric_names::{prometheus_name, underscore_name, MetricKind};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- BEGIN GENERATED TABLE (processors/tests/metric_names_docs.rs) -->";
const END: &str = "<!-- END GENERATED TABLE -->";

/// One distinct metric shape: what the table has a row for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    name: String,
    kind: &'static str,
    temporality: &'static str,
    unit: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kind_of(name: &str) -> Option<MetricKind> {
    Some(match name {
        "gauge" => MetricKind::Gauge,
        "sum (monotonic)" => MetricKind::MonotonicSum,
        "sum (non-monotonic)" => MetricKind::NonMonotonicSum,
        "histogram" => MetricKind::Histogram,
        "exponential histogram" => MetricKind::ExponentialHistogram,
        "summary" => MetricKind::Summary,
        _ => return None,
    })
}

fn temporality(t: i64) -> &'static str {
    match t {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    }
}

fn shapes_from_protobuf(body: &[u8]) -> Vec<Shape> {
    let req = ExportMetricsServiceRequest::decode(body).expect("decode metrics fixture");
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| {
            let (kind, temp) = match &m.data {
                Some(Data::Gauge(_)) => ("gauge", "—"),
                Some(Data::Sum(s)) if s.is_monotonic => (
                    "sum (monotonic)",
                    temporality(s.aggregation_temporality.into()),
                ),
                Some(Data::Sum(s)) => (
                    "sum (non-monotonic)",
                    temporality(s.aggregation_temporality.into()),
                ),
                Some(Data::Histogram(h)) => {
                    ("histogram", temporality(h.aggregation_temporality.into()))
                }
                Some(Data::ExponentialHistogram(h)) => (
                    "exponential histogram",
                    temporality(h.aggregation_temporality.into()),
                ),
                Some(Data::Summary(_)) => ("summary", "—"),
                None => ("no data", "—"),
            };
            Shape {
                name: m.name.clone(),
                kind,
                temporality: temp,
                unit: m.unit.clone(),
            }
        })
        .collect()
}

/// Reads the OTLP/JSON body far enough for the table (the JSON codec lives in the main crate).
fn shapes_from_json(body: &[u8]) -> Vec<Shape> {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json metrics fixture");
    let int = |v: Option<&serde_json::Value>| -> i64 {
        match v {
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(serde_json::Value::String(s)) => match s.as_str() {
                "AGGREGATION_TEMPORALITY_DELTA" => 1,
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
                other => other.parse().unwrap_or(0),
            },
            _ => 0,
        }
    };
    let list = |v: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
        v.get(key)
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for rm in list(&v, "resourceMetrics") {
        for sm in list(&rm, "scopeMetrics") {
            for m in list(&sm, "metrics") {
                let (kind, temp) = if let Some(s) = m.get("sum") {
                    let mono = s.get("isMonotonic").and_then(|b| b.as_bool()) == Some(true);
                    let kind = if mono {
                        "sum (monotonic)"
                    } else {
                        "sum (non-monotonic)"
                    };
                    (kind, temporality(int(s.get("aggregationTemporality"))))
                } else if let Some(h) = m.get("histogram") {
                    (
                        "histogram",
                        temporality(int(h.get("aggregationTemporality"))),
                    )
                } else if let Some(h) = m.get("exponentialHistogram") {
                    (
                        "exponential histogram",
                        temporality(int(h.get("aggregationTemporality"))),
                    )
                } else if m.get("gauge").is_some() {
                    ("gauge", "—")
                } else if m.get("summary").is_some() {
                    ("summary", "—")
                } else {
                    ("no data", "—")
                };
                out.push(Shape {
                    name: m["name"].as_str().unwrap_or_default().to_string(),
                    kind,
                    temporality: temp,
                    unit: m
                        .get("unit")
                        .and_then(|u| u.as_str())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    out
}

/// Every metric shape of every fixture session → the sessions it was seen in.
fn fixture_shapes() -> (BTreeMap<Shape, BTreeSet<String>>, usize) {
    let fixtures = root().join("tests/fixtures");
    let mut sessions: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("tests/fixtures")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    sessions.sort();
    let mut shapes: BTreeMap<Shape, BTreeSet<String>> = BTreeMap::new();
    let mut with_metrics = 0;
    for dir in &sessions {
        let session = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("session name")
            .to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("session dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains("_metrics."))
            })
            .collect();
        files.sort();
        if !files.is_empty() {
            with_metrics += 1;
        }
        for file in files {
            let body = std::fs::read(&file).expect("read fixture");
            let found = match file.extension().and_then(|e| e.to_str()) {
                Some("pb") => shapes_from_protobuf(&body),
                Some("json") => shapes_from_json(&body),
                other => panic!("unexpected fixture extension {other:?} in {file:?}"),
            };
            for shape in found {
                shapes.entry(shape).or_default().insert(session.clone());
            }
        }
    }
    (shapes, with_metrics)
}

fn code(s: &str) -> String {
    if s.is_empty() {
        "—".to_string()
    } else {
        format!("`{s}`")
    }
}

fn generate_table() -> String {
    let (shapes, sessions) = fixture_shapes();
    let distinct_names: BTreeSet<&str> = shapes.keys().map(|s| s.name.as_str()).collect();
    let mut out = String::new();
    out.push_str(&format!(
        "{} distinct metrics ({} name/type/unit combinations) in the {} fixture sessions. \
         `sessions` = in how many of the {} sessions the metric appeared.\n\n",
        distinct_names.len(),
        shapes.len(),
        sessions,
        sessions
    ));
    out.push_str(
        "| metric | type | temporality | unit | `underscore` | `prometheus` | sessions |\n",
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (shape, seen) in &shapes {
        let prom = match kind_of(shape.kind) {
            Some(kind) => prometheus_name(&shape.name, &shape.unit, kind),
            None => underscore_name(&shape.name),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | `{}` | `{}` | {} |\n",
            shape.name,
            shape.kind,
            shape.temporality,
            code(&shape.unit),
            underscore_name(&shape.name),
            prom,
            seen.len()
        ));
    }
    out
}

/// A line diff (longest common subsequence), `-` for the file, `+` for the generated text.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn docs_metric_names_table_matches_the_fixtures() {
    let path = root().join("docs/metric-names.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let table = generate_table();
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} lacks the markers {BEGIN:?} … {END:?}", path.display());
    };
    let current = &doc[b + BEGIN.len()..e];
    let wanted = format!("\n{table}");
    if current == wanted {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        let updated = format!("{}{BEGIN}{wanted}{}", &doc[..b], &doc[e..]);
        std::fs::write(&path, updated).expect("write docs/metric-names.md");
        eprintln!("rewrote the table of {}", path.display());
        return;
    }
    panic!(
        "the table in {} is out of date (- file, + generated):\n{}\n\
         run with UPDATE_DOCS=1 to rewrite it:\n  \
         UPDATE_DOCS=1 cargo test -p processors --test metric_names_docs",
        path.display(),
        diff(current, &wanted)
    );
}

#[test]
fn every_fixture_session_contributes_metrics_in_dotted_delta_form() {
    let (shapes, sessions) = fixture_shapes();
    assert_eq!(sessions, 4, "four sessions with a metrics body");
    assert!(shapes.len() >= 50, "{} shapes", shapes.len());
    for shape in shapes.keys() {
        assert!(shape.name.starts_with("codex."), "{shape:?}");
        assert_ne!(shape.temporality, "cumulative", "{shape:?}");
    }
}

#[test]
fn fixture_metrics_map_to_distinct_prometheus_series_in_both_modes() {
    let (shapes, _) = fixture_shapes();
    for mode in ["underscore", "prometheus"] {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for shape in shapes.keys() {
            let kind = kind_of(shape.kind).expect("known kind");
            let base = match mode {
                "underscore" => underscore_name(&shape.name),
                _ => prometheus_name(&shape.name, &shape.unit, kind),
            };
            // The series a Prometheus-style backend derives from the metric.
            let series: Vec<String> = match kind {
                MetricKind::Histogram | MetricKind::ExponentialHistogram => {
                    ["_bucket", "_sum", "_count"]
                        .iter()
                        .map(|s| format!("{base}{s}"))
                        .collect()
                }
                MetricKind::Summary => {
                    vec![base.clone(), format!("{base}_sum"), format!("{base}_count")]
                }
                _ => vec![base.clone()],
            };
            for s in series {
                if let Some(other) = seen.insert(s.clone(), shape.name.clone()) {
                    assert_eq!(
                        other, shape.name,
                        "{mode}: series {s} of both {other} and {}",
                        shape.name
                    );
                }
            }
        }
    }
}
