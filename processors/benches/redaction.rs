//! `redaction` with `preset: codex` on real Codex CLI payloads (tests/fixtures/tool-secrets-protobuf):
//! the whole processor over the trace request (spans/s) and the log request (records/s), and the
//! same runs expressed as scan speed over the request's string data (bytes/s, one core).
//!
//! `cargo bench -p processors --bench redaction`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

/// The gateway binary's allocator (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use processors::redaction::{HashKey, Preset, RedactionConfig, RedactionProcessor};
use processors::{Metadata, ProcessContext, Processor};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;

fn fixture<T: Message + Default>(name: &str) -> T {
    let path = format!(
        "{}/../tests/fixtures/tool-secrets-protobuf/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    T::decode(body.as_slice()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn processor() -> RedactionProcessor {
    RedactionConfig {
        preset: Some(Preset::Codex),
        hash_key: Some(HashKey::new("bench-hash-key-0123456789abcdef")),
        ..Default::default()
    }
    .build()
    .unwrap_or_else(|e| panic!("{e:?}"))
}

/// Bytes of string data the processor scans in an attribute list (keys not included).
fn attr_bytes(attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .filter_map(|kv| kv.value.as_ref())
        .map(value_bytes)
        .sum()
}

fn value_bytes(v: &AnyValue) -> usize {
    match &v.value {
        Some(Value::StringValue(s)) => s.len(),
        Some(Value::ArrayValue(a)) => a.values.iter().map(value_bytes).sum(),
        Some(Value::KvlistValue(l)) => attr_bytes(&l.values),
        _ => 0,
    }
}

fn trace_string_bytes(req: &ExportTraceServiceRequest) -> usize {
    let mut n = 0;
    for rs in &req.resource_spans {
        n += rs
            .resource
            .as_ref()
            .map_or(0, |r| attr_bytes(&r.attributes));
        for ss in &rs.scope_spans {
            if let Some(sc) = &ss.scope {
                n += sc.name.len() + sc.version.len() + attr_bytes(&sc.attributes);
            }
            for sp in &ss.spans {
                n += sp.name.len() + attr_bytes(&sp.attributes);
                n += sp.status.as_ref().map_or(0, |s| s.message.len());
                for e in &sp.events {
                    n += e.name.len() + attr_bytes(&e.attributes);
                }
                for l in &sp.links {
                    n += attr_bytes(&l.attributes);
                }
            }
        }
    }
    n
}

fn log_string_bytes(req: &ExportLogsServiceRequest) -> usize {
    let mut n = 0;
    for rl in &req.resource_logs {
        n += rl
            .resource
            .as_ref()
            .map_or(0, |r| attr_bytes(&r.attributes));
        for sl in &rl.scope_logs {
            if let Some(sc) = &sl.scope {
                n += sc.name.len() + sc.version.len() + attr_bytes(&sc.attributes);
            }
            for r in &sl.log_records {
                n += r.event_name.len() + r.severity_text.len() + attr_bytes(&r.attributes);
                n += r.body.as_ref().map_or(0, value_bytes);
            }
        }
    }
    n
}

fn push_value(v: &AnyValue, out: &mut String) {
    match &v.value {
        Some(Value::StringValue(s)) => {
            out.push_str(s);
            out.push('\n');
        }
        Some(Value::ArrayValue(a)) => a.values.iter().for_each(|v| push_value(v, out)),
        Some(Value::KvlistValue(l)) => l
            .values
            .iter()
            .filter_map(|kv| kv.value.as_ref())
            .for_each(|v| push_value(v, out)),
        _ => {}
    }
}

fn collect_trace_strings(req: &ExportTraceServiceRequest, out: &mut String) {
    for sp in req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        out.push_str(&sp.name);
        out.push('\n');
        sp.attributes
            .iter()
            .filter_map(|kv| kv.value.as_ref())
            .for_each(|v| push_value(v, out));
    }
}

fn bench(c: &mut Criterion) {
    let p = processor();
    let md = Metadata::default();
    let traces: ExportTraceServiceRequest = fixture("001_traces.pb");
    let logs: ExportLogsServiceRequest = fixture("004_logs.pb");
    let spans: usize = traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let records: usize = logs
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();

    let mut g = c.benchmark_group("redaction");
    g.measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1));

    let run_traces = |b: &mut criterion::Bencher<'_>| {
        b.iter_batched(
            || traces.clone(),
            |mut req| {
                p.process_traces(&mut req, &mut ProcessContext::new(&md));
                black_box(req)
            },
            BatchSize::LargeInput,
        )
    };
    let run_logs = |b: &mut criterion::Bencher<'_>| {
        b.iter_batched(
            || logs.clone(),
            |mut req| {
                p.process_logs(&mut req, &mut ProcessContext::new(&md));
                black_box(req)
            },
            BatchSize::LargeInput,
        )
    };

    g.throughput(Throughput::Elements(spans as u64));
    g.bench_function("preset_codex/traces_001/spans", run_traces);
    g.throughput(Throughput::Bytes(trace_string_bytes(&traces) as u64));
    g.bench_function("preset_codex/traces_001/string_bytes", run_traces);
    // Pure scan speed, without per-string overhead: every string value of the trace request
    // joined into one text.
    let mut text = String::new();
    collect_trace_strings(&traces, &mut text);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("scan/traces_001_joined_text", |b| {
        b.iter(|| black_box(p.redact_str(black_box(&text))))
    });
    g.throughput(Throughput::Elements(records as u64));
    g.bench_function("preset_codex/logs_004/records", run_logs);
    g.throughput(Throughput::Bytes(log_string_bytes(&logs) as u64));
    g.bench_function("preset_codex/logs_004/string_bytes", run_logs);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
