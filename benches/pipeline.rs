//! Per-request cost of the gateway's ingest path, measured on real Codex CLI telemetry.
//!
//! What one OTLP request costs between "body received" and "body ready for the exporters":
//!
//! - `traces_pb/decode`: prost-decode `tool-secrets-protobuf/001_traces.pb` (512 spans) from `Bytes`.
//! - `traces_pb/decode_encode`: decode → prune → [`Batch`] → protobuf encoding, no processors
//!   (the baseline).
//! - `traces_pb/decode_chain_encode`: the same plus a two-stage chain run in place the way the
//!   pipeline runs it: an `attributes` processor (record level: upsert, insert from another
//!   attribute, delete by key and by pattern) then a `resource` processor (upsert, insert from
//!   another attribute). The ratio to `decode_encode` is what the processors cost.
//! - `logs_pb/*` and `metrics_pb/*`: baseline and chain on `004_logs.pb` and `003_metrics.pb`.
//! - `traces_json/decode` and `traces_json/encode`: the OTLP JSON mapping on
//!   `prompt-redacted-json/001_traces.json`. Skipped, with a note on stderr, while
//!   `codec::json` cannot decode (or encodes nothing).
//!
//! Throughput is reported in elements/s: spans for traces, log records for logs, data points for
//! metrics. Each benchmark warms up 1 s and measures 3 s (30 samples).
//!
//! Run: `cargo bench --bench pipeline` (add `-- --noplot` to skip plots, or a name filter such as
//! `-- traces_pb`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use bytes::Bytes;
use codex_otel_gateway::codec::{json, Batch, Payload, WireFormat};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use processors::attributes::{ActionConfig, ActionKind, AttributesConfig, Level};
use processors::{find_attr, ConfigValue, Metadata, OtlpRequest, ProcessContext, Processor};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;

const TRACES_PB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tool-secrets-protobuf/001_traces.pb"
);
const METRICS_PB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tool-secrets-protobuf/003_metrics.pb"
);
const LOGS_PB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
);
const TRACES_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/prompt-redacted-json/001_traces.json"
);

fn read_fixture(path: &str) -> Bytes {
    Bytes::from(std::fs::read(path).expect("fixture file is readable"))
}

fn set(kind: ActionKind, key: &str, value: &str) -> ActionConfig {
    ActionConfig {
        key: Some(key.into()),
        pattern: None,
        action: kind,
        value: Some(ConfigValue::String(value.into())),
        from_attribute: None,
    }
}

fn copy(kind: ActionKind, key: &str, from: &str) -> ActionConfig {
    ActionConfig {
        key: Some(key.into()),
        pattern: None,
        action: kind,
        value: None,
        from_attribute: Some(from.into()),
    }
}

fn delete_key(key: &str) -> ActionConfig {
    ActionConfig {
        key: Some(key.into()),
        pattern: None,
        action: ActionKind::Delete,
        value: None,
        from_attribute: None,
    }
}

fn delete_pattern(pattern: &str) -> ActionConfig {
    ActionConfig {
        key: None,
        pattern: Some(pattern.into()),
        action: ActionKind::Delete,
        value: None,
        from_attribute: None,
    }
}

/// The benchmarked chain: `attributes` (record level) then `resource` (resource level).
fn chain() -> Vec<Box<dyn Processor>> {
    let attributes = AttributesConfig {
        actions: vec![
            set(ActionKind::Upsert, "deployment.environment", "prod"),
            copy(ActionKind::Insert, "codex.conversation", "conversation.id"),
            delete_key("busy_ns"),
            delete_key("idle_ns"),
            delete_pattern(r"^thread\."),
        ],
        attributes: vec![],
    }
    .build(Level::Record)
    .expect("attributes processor config is valid");
    let resource = AttributesConfig {
        actions: vec![
            set(ActionKind::Upsert, "team", "payments"),
            copy(ActionKind::Insert, "deployment.environment.name", "env"),
        ],
        attributes: vec![],
    }
    .build(Level::Resource)
    .expect("resource processor config is valid");
    vec![Box::new(attributes), Box::new(resource)]
}

/// What the pipeline does with one request body: decode, run `chain` in place, prune, wrap in a
/// [`Batch`] and encode it as protobuf once. Returns the encoded length.
fn ingest<R>(body: &Bytes, chain: &[Box<dyn Processor>]) -> usize
where
    R: OtlpRequest + Into<Payload>,
{
    let mut req = R::decode(body.clone()).expect("fixture decodes");
    let metadata = Metadata::default();
    let mut cx = ProcessContext::new(&metadata);
    for p in chain {
        req.process_with(p.as_ref(), &mut cx);
    }
    req.prune();
    let batch = Batch::new(req.into());
    batch.encoded(WireFormat::Proto, false).len()
}

/// Checks once, outside the measurement, that the chain really rewrites the fixture spans.
fn check_chain_applies(body: &Bytes, chain: &[Box<dyn Processor>]) {
    let mut req = ExportTraceServiceRequest::decode(body.clone()).expect("traces fixture decodes");
    let metadata = Metadata::default();
    let mut cx = ProcessContext::new(&metadata);
    for p in chain {
        p.process_traces(&mut req, &mut cx);
    }
    let rs = req.resource_spans.first().expect("at least one resource");
    let resource = rs.resource.as_ref().expect("resource present");
    assert_eq!(
        find_attr(&resource.attributes, "team"),
        Some(&Value::StringValue("payments".into())),
        "resource processor ran"
    );
    let span = rs
        .scope_spans
        .iter()
        .flat_map(|s| &s.spans)
        .next()
        .expect("at least one span");
    assert!(
        find_attr(&span.attributes, "deployment.environment").is_some(),
        "attributes processor upserted"
    );
    assert!(
        find_attr(&span.attributes, "thread.name").is_none(),
        "attributes processor deleted by pattern"
    );
}

/// `decode` (traces only), `decode_encode` and `decode_chain_encode` for one protobuf fixture.
fn bench_proto<R>(c: &mut Criterion, group_name: &str, path: &str, with_decode: bool)
where
    R: OtlpRequest + Into<Payload>,
{
    let body = read_fixture(path);
    let items = R::decode(body.clone())
        .expect("fixture decodes")
        .item_count();
    assert!(items > 0, "{path} holds items");
    let chain = chain();
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(items as u64));
    if with_decode {
        group.bench_function("decode", |b| {
            b.iter(|| R::decode(black_box(body.clone())).expect("fixture decodes"))
        });
    }
    group.bench_function("decode_encode", |b| {
        b.iter(|| ingest::<R>(black_box(&body), &[]))
    });
    group.bench_function("decode_chain_encode", |b| {
        b.iter(|| ingest::<R>(black_box(&body), &chain))
    });
    group.finish();
}

fn traces_pb(c: &mut Criterion) {
    check_chain_applies(&read_fixture(TRACES_PB), &chain());
    bench_proto::<ExportTraceServiceRequest>(c, "traces_pb", TRACES_PB, true);
}

fn logs_pb(c: &mut Criterion) {
    bench_proto::<ExportLogsServiceRequest>(c, "logs_pb", LOGS_PB, false);
}

fn metrics_pb(c: &mut Criterion) {
    bench_proto::<ExportMetricsServiceRequest>(c, "metrics_pb", METRICS_PB, false);
}

fn traces_json(c: &mut Criterion) {
    let body = read_fixture(TRACES_JSON);
    // Encode what the JSON decoder produced; while it cannot decode, encode the protobuf fixture
    // (the same kind of Codex session, 512 spans) so the encoder is still measured.
    let (decoded, req) = match json::decode_traces(&body) {
        Ok(req) => (true, req),
        Err(e) => {
            eprintln!("note: skipping traces_json/decode: codec::json::decode_traces failed: {e}");
            let pb = read_fixture(TRACES_PB);
            let req = ExportTraceServiceRequest::decode(pb).expect("traces fixture decodes");
            (false, req)
        }
    };
    let encoded = json::encode_traces(&req);
    let encodes = !encoded.is_empty();
    if encodes {
        let round_trip = json::decode_traces(&encoded).map(|r| r.item_count());
        eprintln!(
            "traces_json: fixture {} bytes, encode_traces writes {} bytes, re-decoded spans: {:?}",
            body.len(),
            encoded.len(),
            round_trip
        );
    } else {
        eprintln!(
            "note: skipping traces_json/encode: codec::json::encode_traces returned no bytes"
        );
    }
    if !decoded && !encodes {
        return;
    }
    let mut group = c.benchmark_group("traces_json");
    group.throughput(Throughput::Elements(req.item_count() as u64));
    if decoded {
        group.bench_function("decode", |b| {
            b.iter(|| json::decode_traces(black_box(&body)).expect("JSON fixture decodes"))
        });
    }
    if encodes {
        group.bench_function("encode", |b| {
            b.iter(|| json::encode_traces(black_box(&req)))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = traces_pb, logs_pb, metrics_pb, traces_json
}
criterion_main!(benches);
