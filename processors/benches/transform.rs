//! Cost of the transform processors (`codex`, `team`, `attributes`, `metric_names`, `filter`,
//! `delta_to_cumulative`, the Codex intelligence processors `genai`, `cost`, `codex_anomaly` and
//! the `codex_usage` connector (steady state, on `failing-tool-loop-protobuf/005_logs.pb`)) on
//! real Codex CLI 0.169.0 payloads, and of the five stateless ones
//! chained, next to what the gateway pays anyway for the same payload: prost decode + encode.
//!
//! Payloads (`tests/fixtures`): `tool-secrets-protobuf/001_traces.pb` (≈512 spans),
//! `tool-secrets-protobuf/004_logs.pb` and `failing-tool-loop-protobuf/004_metrics.pb`.
//! Throughput is in items: spans, log records or metric data points of the payload as it arrives.
//!
//! What is timed:
//! - `<processor>/<signal>`: one processor call on a fresh decoded clone of the payload
//!   (`iter_batched`; the clone is made, and the result dropped, outside the measurement).
//!   `team` runs at `level: resource` with a header rule (no header in the empty metadata, so it
//!   is tried and misses), a `service.name` resource rule (matches) and a default; `attributes`
//!   runs at record level with one upsert and one delete-by-pattern (`^code\.`, three keys per
//!   span); `filter` is `filter/codex-lean` from `config/examples/codex-lean.yaml`;
//!   `metric_names` is `mode: prometheus`.
//! - `delta_to_cumulative/metrics_first_seen`: a new processor per iteration (built in the batch
//!   setup), so every stream of the payload is new: key computation, map inserts, temporality
//!   rewrite. `delta_to_cumulative/metrics_steady`: one processor for the whole run, each
//!   iteration's payload shifted in time past the previous one, so every point is an in-order
//!   delta of a known stream (the accumulate path; nothing is dropped — checked before and after).
//! - `cardinality/metrics_codex_preset`: the guard with `preset: codex` on the metrics payload,
//!   every attribute set already seen (the steady state); `cardinality/unique_ids_overflow`:
//!   1000 points of one metric per iteration, each with an id never seen before, the limit
//!   (100) long reached: every point is hashed, rewritten to the overflow set and merged.
//! - `stateless_chain/traces`: codex → filter(codex-lean) → team → attributes → metric_names plus
//!   `OtlpRequest::prune`, on a fresh clone (clone and drop not timed);
//!   `stateless_chain_no_filter/traces`: the same without `filter`, so the spans the filter drops
//!   do not make the chain look cheaper; `decode_encode/traces`: the baseline, `decode` of the
//!   payload bytes + `encode_to_vec`, no processors. Both sides run under `iter_batched` with
//!   `SmallInput`: dropping the results (the processed request; the decoded request and the
//!   encoded bytes) is not timed on either side.
//!
//! `logs_chain/decoded` and `logs_chain/view`: the Codex logs chain from bytes to bytes on the
//! decoded request and on a view of the bytes (see `logs_chain` below).
//!
//! Before the criterion groups run (under `cargo bench` only), a manual loop
//! (`std::time::Instant`; decode+encode, chain and chain without filter interleaved so load
//! from other processes hits all three alike; median of 200 each) prints two ratios on stderr:
//! - *lifecycle* (the target's measure): every allocation a side makes is also freed in its
//!   timing — the decoded request and the encoded bytes on the decode+encode side; the
//!   processed request on the chain side (the filter frees the spans it drops inside the chain
//!   anyway). Without this, the chain pays for freeing 470 dropped spans while the baseline
//!   frees nothing.
//! - *work only*: the final drops untimed on both sides.
//!
//! Target: the five stateless processors together cost ≤ 20% of decode + encode of the same
//! payload.
//!
//! Run: `cargo bench -p processors --bench transform` (append `-- --noplot`, or a filter such as
//! `-- stateless_chain`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

/// The gateway binary's allocator (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use processors::attributes::{AttributesConfig, Level};
use processors::codex::{CodexConfig, CodexProcessor};
use processors::codex_anomaly::CodexAnomalyConfig;
use processors::cost::CostConfig;
use processors::delta_to_cumulative::{DeltaToCumulativeConfig, DeltaToCumulativeProcessor};
use processors::filter::{FilterConfig, FilterProcessor};
use processors::genai::GenAiConfig;
use processors::metric_names::{MetricNamesConfig, MetricNamesProcessor};
use processors::team::{TeamConfig, TeamProcessor};
use processors::{Metadata, OtlpRequest, ProcessContext, Processor};
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

const TRACES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/tool-secrets-protobuf/001_traces.pb"
);
const LOGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/tool-secrets-protobuf/004_logs.pb"
);
/// Logs with token counts, tool results and decisions: what `genai`, `cost` and `codex_anomaly`
/// work on.
const LOOP_LOGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/failing-tool-loop-protobuf/005_logs.pb"
);
const METRICS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/failing-tool-loop-protobuf/004_metrics.pb"
);

/// Iterations of each side of the manual ratio loop.
const MANUAL_ITERS: usize = 200;

// ------------------------------------------------------------------------------------------------
// Fixtures and processors
// ------------------------------------------------------------------------------------------------

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode<T: Message + Default>(path: &str, bytes: &[u8]) -> T {
    T::decode(bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A processor config from JSON (the same shape as the YAML config).
fn config<C: DeserializeOwned>(value: serde_json::Value) -> C {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("config: {e}"))
}

fn built<P, E: std::fmt::Debug>(r: Result<P, E>) -> P {
    r.unwrap_or_else(|e| panic!("build: {e:?}"))
}

fn codex() -> CodexProcessor {
    built(config::<CodexConfig>(json!({})).build())
}

fn team() -> TeamProcessor {
    built(
        config::<TeamConfig>(json!({
            "level": "resource",
            "rules": [
                {
                    "name": "header",
                    "match": { "metadata": { "key": "x-codex-team", "regex": "^(?P<team>[a-z0-9-]+)$" } },
                    "set": { "team": "${team}" }
                },
                {
                    "name": "exec",
                    "match": { "resource_attribute": { "key": "service.name", "value": "codex_exec" } },
                    "set": { "team": "payments", "project": "checkout" }
                }
            ],
            "default": { "team": "unknown" }
        }))
        .build(),
    )
}

fn attributes() -> processors::attributes::AttributesProcessor {
    built(
        config::<AttributesConfig>(json!({
            "actions": [
                { "key": "deployment.environment", "value": "prod", "action": "upsert" },
                { "pattern": "^code\\.", "action": "delete" }
            ]
        }))
        .build(Level::Record),
    )
}

fn metric_names() -> MetricNamesProcessor {
    built(config::<MetricNamesConfig>(json!({ "mode": "prometheus" })).build())
}

/// `filter/codex-lean` of `config/examples/codex-lean.yaml`, in JSON.
fn filter_codex_lean() -> FilterProcessor {
    built(
        config::<FilterConfig>(json!({
            "traces": {
                "span": [
                    { "name_regex": "^fs\\." },
                    { "name_regex": "^(append_items|persist_rollout_items|send_raw_response_items|record_conversation_items|record_context_updates_and_set_reference_context_item|session\\.flush_rollout)$" },
                    { "name": "receiving" },
                    { "name_regex": "^(realtime_conversation\\.|flush_assistant_text_segments)" },
                    { "name_regex": "^(step_context|capability_roots|world_state|agents_md|instructions|turn_context|environments|exec_server|mcp|built_tools|run_turn|regular_task|app_server|session_init)\\." },
                    { "name_regex": "(plugin|skill|hook)" },
                    { "name_regex": "^(add|append)_" },
                    { "name_regex": "^(built_tools|build_tool_router|finalize_tool_router|build_model_visible_specs|merge_into_namespaces|hosted_model_tool_specs|extension_tool_executors|prepare_tool_recommendations|build_tool_call|capture_binding_with_metadata)$" },
                    { "name_regex": "^(auth|get_model_info|get_default_model|list_models|load|load_with_cli_overrides|shell_snapshot)$" },
                    { "name_regex": "^(build_prompt|emit_turn_start_lifecycle|consume_startup_prewarm_for_regular_turn|set_previous_turn_settings|track_turn_resolved_config_analytics|turn_diff_display_roots|merge_connector_selection|run_pre_sampling_compact|build_extension_turn_input_items)$" },
                    { "name_regex": "^(guardian_scoring_observation|tool_dispatch\\.parallel_lock|unified_exec\\.collect_output)$" }
                ]
            },
            "drop_attributes": {
                "keys": ["busy_ns", "idle_ns"],
                "patterns": ["^code\\.", "^thread\\."]
            }
        }))
        .build(),
    )
}

fn genai_traces() -> processors::genai::GenAiProcessor {
    built(config::<GenAiConfig>(json!({})).build())
}

fn delta_to_cumulative() -> DeltaToCumulativeProcessor {
    built(config::<DeltaToCumulativeConfig>(json!({})).build())
}

/// The five stateless processors in the recommended pipeline order (`config/gateway.yaml`):
/// the normaliser first (the filter matches clean data), the filter next (what it drops costs
/// nothing further on), then tagging, attribute edits and renaming. Optionally without the
/// filter.
fn cardinality(json: &str) -> processors::cardinality::CardinalityProcessor {
    built(
        serde_json::from_str::<processors::cardinality::CardinalityConfig>(json)
            .expect("config")
            .build(),
    )
}

/// `n` delta sum points of one metric, each with a new `id` (from `first`) and Codex-like
/// `model` / `app.version` attributes.
fn unique_id_points(first: u64, n: usize) -> ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use opentelemetry_proto::tonic::metrics::v1::{
        number_data_point, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };
    let points = (0..n as u64)
        .map(|i| NumberDataPoint {
            attributes: vec![
                processors::kv("id", V::StringValue(format!("{:016x}", first + i))),
                processors::kv("model", V::StringValue("gpt-5.1-codex".into())),
                processors::kv("app.version", V::StringValue("0.171.0".into())),
            ],
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            value: Some(number_data_point::Value::AsInt(1)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![opentelemetry_proto::tonic::metrics::v1::Metric {
                    name: "codex.adversary".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn stateless_chain(with_filter: bool) -> Vec<Box<dyn Processor>> {
    let mut chain: Vec<Box<dyn Processor>> = vec![Box::new(codex())];
    if with_filter {
        chain.push(Box::new(filter_codex_lean()));
    }
    chain.push(Box::new(team()));
    chain.push(Box::new(attributes()));
    chain.push(Box::new(metric_names()));
    chain
}

/// Runs the chain over `req` and prunes, as the pipeline does (`run_one` in
/// `src/pipeline/mod.rs`): drops and audit counts are taken from the context after each
/// processor (the pipeline hands them to its metrics; here they are dropped), so no processor
/// finds the counts of the ones before it. Returns the items dropped.
fn run_chain<R: OtlpRequest>(chain: &[Box<dyn Processor>], req: &mut R, md: &Metadata) -> u64 {
    let mut cx = ProcessContext::new(md);
    let mut dropped = 0;
    for p in chain {
        req.process_with(p.as_ref(), &mut cx);
        dropped += cx.take_dropped();
        black_box(cx.take_counts());
    }
    req.prune();
    dropped
}

// ------------------------------------------------------------------------------------------------
// delta_to_cumulative time shifting
// ------------------------------------------------------------------------------------------------

/// Calls `f(start_time_unix_nano, time_unix_nano)` on every data point of every metric.
fn for_each_point_time(
    req: &mut ExportMetricsServiceRequest,
    mut f: impl FnMut(&mut u64, &mut u64),
) {
    for m in req
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics)
    {
        match &mut m.data {
            Some(Data::Gauge(g)) => g
                .data_points
                .iter_mut()
                .for_each(|p| f(&mut p.start_time_unix_nano, &mut p.time_unix_nano)),
            Some(Data::Sum(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| f(&mut p.start_time_unix_nano, &mut p.time_unix_nano)),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter_mut()
                .for_each(|p| f(&mut p.start_time_unix_nano, &mut p.time_unix_nano)),
            Some(Data::ExponentialHistogram(h)) => h
                .data_points
                .iter_mut()
                .for_each(|p| f(&mut p.start_time_unix_nano, &mut p.time_unix_nano)),
            Some(Data::Summary(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| f(&mut p.start_time_unix_nano, &mut p.time_unix_nano)),
            None => {}
        }
    }
}

/// A shift that moves every point of `req` past the end of every point of the unshifted `req`:
/// (latest time − earliest time) + 1 ns.
fn time_period(req: &ExportMetricsServiceRequest) -> u64 {
    let mut req = req.clone();
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for_each_point_time(&mut req, |start, time| {
        for t in [*start, *time] {
            if t != 0 {
                lo = lo.min(t);
                hi = hi.max(t);
            }
        }
    });
    assert!(lo <= hi, "metrics fixture without timestamps");
    hi - lo + 1
}

/// A clone of `req` with every non-zero timestamp moved forward by `by`.
fn shifted(req: &ExportMetricsServiceRequest, by: u64) -> ExportMetricsServiceRequest {
    let mut req = req.clone();
    for_each_point_time(&mut req, |start, time| {
        if *start != 0 {
            *start += by;
        }
        if *time != 0 {
            *time += by;
        }
    });
    req
}

// ------------------------------------------------------------------------------------------------
// Manual ratio (printed once, outside criterion's measurement)
// ------------------------------------------------------------------------------------------------

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// One decode + encode of `bytes`: (without the drops, with the drops of the decoded request
/// and the encoded bytes).
fn time_decode_encode(bytes: &[u8]) -> (Duration, Duration) {
    let t = Instant::now();
    let req = ExportTraceServiceRequest::decode(black_box(bytes)).expect("decode");
    let out = req.encode_to_vec();
    let work = t.elapsed();
    drop(black_box((req, out)));
    (work, t.elapsed())
}

/// One run of the chain over a fresh clone of `req` (the clone is not timed): (without the
/// final drop, with the drop of the processed request).
fn time_chain(
    chain: &[Box<dyn Processor>],
    req: &ExportTraceServiceRequest,
    md: &Metadata,
) -> (Duration, Duration) {
    let mut r = req.clone();
    let t = Instant::now();
    black_box(run_chain(chain, black_box(&mut r), md));
    let work = t.elapsed();
    drop(black_box(r));
    (work, t.elapsed())
}

fn print_manual_ratio(bytes: &[u8], req: &ExportTraceServiceRequest) {
    let md = Metadata::default();
    let full = stateless_chain(true);
    let no_filter = stateless_chain(false);

    // What the chain does to the payload, for the report.
    let mut after = req.clone();
    let dropped = run_chain(&full, &mut after, &md);
    let mut after_nf = req.clone();
    run_chain(&no_filter, &mut after_nf, &md);
    eprintln!(
        "transform: traces payload {} B, {} spans; after chain {} spans ({dropped} dropped), {} B; \
         after chain without filter {} spans, {} B",
        bytes.len(),
        req.item_count(),
        after.item_count(),
        after.encoded_len(),
        after_nf.item_count(),
        after_nf.encoded_len(),
    );

    // Interleaved, so load from other processes on a shared machine hits all three alike.
    let mut samples: [Vec<Duration>; 6] = Default::default();
    for i in 0..MANUAL_ITERS + MANUAL_ITERS / 10 {
        let (b, c, n) = (
            time_decode_encode(bytes),
            time_chain(&full, req, &md),
            time_chain(&no_filter, req, &md),
        );
        if i >= MANUAL_ITERS / 10 {
            // After the warm-up.
            for (k, d) in [b.0, c.0, n.0, b.1, c.1, n.1].into_iter().enumerate() {
                samples[k].push(d);
            }
        }
    }
    let [base, chain, chain_nf, base_all, chain_all, chain_nf_all] = samples.map(median);
    let pct = |d: Duration, of: Duration| 100.0 * d.as_secs_f64() / of.as_secs_f64();
    // Lifecycle: every allocation made is also freed on both sides (the decoded request and
    // the encoded bytes; the processed request, including what the filter dropped).
    eprintln!(
        "transform: manual median of {MANUAL_ITERS}, lifecycle (frees timed on both sides): \
         decode_encode/traces {base_all:?}, stateless_chain/traces {chain_all:?} ({:.1}% of \
         decode+encode), stateless_chain_no_filter/traces {chain_nf_all:?} ({:.1}%); target <= 20%",
        pct(chain_all, base_all),
        pct(chain_nf_all, base_all),
    );
    // Work only: the final drops untimed on both sides (the chain still frees, inside the
    // filter, the spans it drops).
    eprintln!(
        "transform: manual median of {MANUAL_ITERS}, work only (final drops untimed): \
         decode_encode/traces {base:?}, stateless_chain/traces {chain:?} ({:.1}%), \
         stateless_chain_no_filter/traces {chain_nf:?} ({:.1}%)",
        pct(chain, base),
        pct(chain_nf, base),
    );
}

// ------------------------------------------------------------------------------------------------
// Benchmarks
// ------------------------------------------------------------------------------------------------

/// Times `process(&processor, &mut clone)` on a fresh clone per iteration.
fn bench_one<R: Clone, P>(
    c: &mut Criterion,
    group: &str,
    id: &str,
    items: usize,
    processor: &P,
    req: &R,
    process: impl Fn(&P, &mut R, &mut ProcessContext<'_>),
) {
    let md = Metadata::default();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(items as u64));
    g.bench_function(id, |b| {
        b.iter_batched(
            || req.clone(),
            |mut r| {
                let mut cx = ProcessContext::new(&md);
                process(processor, black_box(&mut r), &mut cx);
                (r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let trace_bytes = read(TRACES);
    let log_bytes = read(LOGS);
    let metric_bytes = read(METRICS);
    let traces: ExportTraceServiceRequest = decode(TRACES, &trace_bytes);
    let logs: ExportLogsServiceRequest = decode(LOGS, &log_bytes);
    let metrics: ExportMetricsServiceRequest = decode(METRICS, &metric_bytes);
    let (n_spans, n_logs, n_points) =
        (traces.item_count(), logs.item_count(), metrics.item_count());

    // Only under `cargo bench` (criterion gets `--bench`): not in `cargo test --benches`, where
    // criterion runs each benchmark once, often in a debug build.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list") {
        print_manual_ratio(&trace_bytes, &traces);
    }

    // 1. Each processor alone, on the payload it matters for.
    let p = codex();
    bench_one(c, "codex", "logs", n_logs, &p, &logs, |p, r, cx| {
        p.process_logs(r, cx)
    });
    bench_one(c, "codex", "traces", n_spans, &p, &traces, |p, r, cx| {
        p.process_traces(r, cx)
    });
    let p = team();
    bench_one(c, "team", "traces", n_spans, &p, &traces, |p, r, cx| {
        p.process_traces(r, cx)
    });
    let p = filter_codex_lean();
    bench_one(
        c,
        "filter_codex_lean",
        "traces",
        n_spans,
        &p,
        &traces,
        |p, r, cx| p.process_traces(r, cx),
    );
    let p = attributes();
    bench_one(
        c,
        "attributes",
        "traces",
        n_spans,
        &p,
        &traces,
        |p, r, cx| p.process_traces(r, cx),
    );
    let p = metric_names();
    bench_one(
        c,
        "metric_names",
        "metrics",
        n_points,
        &p,
        &metrics,
        |p, r, cx| p.process_metrics(r, cx),
    );

    // The Codex intelligence processors, on the failing-tool-loop logs (69 records: 8 priced
    // responses, 7 tool results, 7 decisions). `codex_anomaly` gets a new processor per
    // iteration (built in the batch setup, not timed), so each run sees a new conversation and
    // raises its alerts (tool failure loop, runaway session, decision policy).
    let loop_bytes = read(LOOP_LOGS);
    let loop_logs: ExportLogsServiceRequest = decode(LOOP_LOGS, &loop_bytes);
    let n_loop = loop_logs.item_count();
    let p = built(config::<GenAiConfig>(json!({})).build());
    bench_one(c, "genai", "logs", n_loop, &p, &loop_logs, |p, r, cx| {
        p.process_logs(r, cx)
    });
    let p = genai_traces();
    bench_one(c, "genai", "traces", n_spans, &p, &traces, |p, r, cx| {
        p.process_traces(r, cx)
    });
    let p = built(
        config::<CostConfig>(json!({
            "models": {
                "gpt-5.1-codex": { "input": 1.25, "cached_input": 0.125, "output": 10 },
                "gpt-5.1-codex-mini": { "input": 0.25, "cached_input": 0.025, "output": 2 },
                "gpt-5": { "input": 1.25, "cached_input": 0.125, "output": 10 }
            }
        }))
        .build(),
    );
    bench_one(c, "cost", "logs", n_loop, &p, &loop_logs, |p, r, cx| {
        p.process_logs(r, cx)
    });
    let anomaly = || {
        built(
            config::<CodexAnomalyConfig>(json!({
                "runaway_session": { "max_tokens": 500000 },
                "tool_decision": { "watch_tools": ["exec_command"] }
            }))
            .build(),
        )
    };
    {
        let md = Metadata::default();
        let mut r = loop_logs.clone();
        let mut cx = ProcessContext::new(&md);
        anomaly().process_logs(&mut r, &mut cx);
        let alerts: u64 = cx
            .counts()
            .iter()
            .filter(|(n, _, _)| *n == "alerts")
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(alerts, 3, "codex_anomaly alerts on the fixture");
    }
    let md = Metadata::default();
    let mut g = c.benchmark_group("codex_anomaly");
    g.throughput(Throughput::Elements(n_loop as u64));
    g.bench_function("logs_new_conversation", |b| {
        b.iter_batched(
            || (anomaly(), loop_logs.clone()),
            |(p, mut r)| {
                let mut cx = ProcessContext::new(&md);
                p.process_logs(black_box(&mut r), &mut cx);
                (p, r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    // Steady state: one processor, the same request replayed (every record is skipped as a
    // replay after the first run: the lookup and watermark path).
    let steady = anomaly();
    steady.process_logs(&mut loop_logs.clone(), &mut ProcessContext::new(&md));
    g.bench_function("logs_replayed", |b| {
        b.iter_batched(
            || loop_logs.clone(),
            |mut r| {
                let mut cx = ProcessContext::new(&md);
                steady.process_logs(black_box(&mut r), &mut cx);
                (r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // codex_usage connector: the logs of the tool-loop session into usage metrics (cumulative,
    // steady state: the streams exist after the first request).
    let usage = processors::codex_usage::CodexUsageConfig::default()
        .build()
        .expect("codex_usage builds");
    assert!(
        usage
            .consume_logs(&loop_logs, &mut ProcessContext::new(&md))
            .is_some(),
        "codex_usage finds usage in the fixture"
    );
    let mut g = c.benchmark_group("codex_usage");
    g.throughput(Throughput::Elements(n_loop as u64));
    g.bench_function("logs_to_metrics", |b| {
        b.iter(|| {
            let mut cx = ProcessContext::new(&md);
            usage.consume_logs(black_box(&loop_logs), &mut cx)
        })
    });
    g.finish();

    // delta_to_cumulative: first-seen streams (a new processor per iteration) and steady state
    // (one processor, each payload shifted past the previous one: in-order deltas).
    let period = time_period(&metrics);
    {
        let p = delta_to_cumulative();
        let md = Metadata::default();
        for k in 0..3 {
            let mut r = shifted(&metrics, k * period);
            let mut cx = ProcessContext::new(&md);
            p.process_metrics(&mut r, &mut cx);
            assert_eq!(
                cx.dropped(),
                0,
                "delta_to_cumulative dropped points at shift {k}"
            );
        }
        eprintln!(
            "transform: metrics payload {} B, {n_points} points, {} delta_to_cumulative streams",
            metric_bytes.len(),
            p.stream_count()
        );
    }
    let md = Metadata::default();
    let mut g = c.benchmark_group("delta_to_cumulative");
    g.throughput(Throughput::Elements(n_points as u64));
    g.bench_function("metrics_first_seen", |b| {
        b.iter_batched(
            || (delta_to_cumulative(), metrics.clone()),
            |(p, mut r)| {
                let mut cx = ProcessContext::new(&md);
                p.process_metrics(black_box(&mut r), &mut cx);
                (p, r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    let steady = delta_to_cumulative();
    let mut shift = 0u64;
    g.bench_function("metrics_steady", |b| {
        b.iter_batched(
            || {
                shift += period;
                shifted(&metrics, shift)
            },
            |mut r| {
                let mut cx = ProcessContext::new(&md);
                steady.process_metrics(black_box(&mut r), &mut cx);
                (r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    {
        // Still the accumulate path after the whole run.
        let mut r = shifted(&metrics, shift + period);
        let mut cx = ProcessContext::new(&md);
        steady.process_metrics(&mut r, &mut cx);
        assert_eq!(
            cx.dropped(),
            0,
            "delta_to_cumulative steady state dropped points"
        );
    }

    // The cardinality guard: steady state on Codex's metrics with the Codex preset (every set
    // seen before: strip check, set hash, lookup), and an adversarial stream where every point
    // carries a new id (limit reached: hash, overflow rewrite, merge into one point).
    let guard = cardinality(r#"{"preset": "codex"}"#);
    {
        let mut r = metrics.clone();
        let mut cx = ProcessContext::new(&md);
        guard.process_metrics(&mut r, &mut cx);
    }
    let mut g = c.benchmark_group("cardinality");
    g.throughput(Throughput::Elements(n_points as u64));
    g.bench_function("metrics_codex_preset", |b| {
        b.iter_batched(
            || metrics.clone(),
            |mut r| {
                let mut cx = ProcessContext::new(&md);
                guard.process_metrics(black_box(&mut r), &mut cx);
                (r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    let adversary = cardinality(r#"{"max_attribute_sets": 100}"#);
    let mut next_id = 0u64;
    const UNIQUE: usize = 1000;
    g.throughput(Throughput::Elements(UNIQUE as u64));
    g.bench_function("unique_ids_overflow", |b| {
        b.iter_batched(
            || {
                next_id += UNIQUE as u64;
                unique_id_points(next_id, UNIQUE)
            },
            |mut r| {
                let mut cx = ProcessContext::new(&md);
                adversary.process_metrics(black_box(&mut r), &mut cx);
                (r, cx.dropped())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // 2. The stateless chain against decode + encode of the same payload.
    for (group, with_filter) in [
        ("stateless_chain", true),
        ("stateless_chain_no_filter", false),
    ] {
        let chain = stateless_chain(with_filter);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(n_spans as u64));
        g.bench_function("traces", |b| {
            b.iter_batched(
                || traces.clone(),
                |mut r| {
                    let dropped = run_chain(&chain, black_box(&mut r), &md);
                    (r, dropped)
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
    let mut g = c.benchmark_group("decode_encode");
    g.throughput(Throughput::Elements(n_spans as u64));
    g.bench_function("traces", |b| {
        b.iter_batched(
            || trace_bytes.as_slice(),
            |bytes| {
                let req = ExportTraceServiceRequest::decode(black_box(bytes)).expect("decode");
                let out = req.encode_to_vec();
                (req, out)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    logs_chain(c, &log_bytes, n_logs);
}

/// `logs_chain/{decoded,view}`: the Codex logs chain (`codex`, `redaction` with the codex preset,
/// `team`) on `004_logs.pb` from its bytes to its encoding, as the gateway runs it: prost decode,
/// the chain, encode and drop; against the same chain on a view of the bytes
/// (`processors::logs_view`), parse to encoding. Both produce the same bytes (checked first).
fn logs_chain(c: &mut Criterion, bytes: &[u8], n_logs: usize) {
    let redaction: processors::redaction::RedactionConfig = config(json!({
        "preset": "codex", "hash_key": "bench-hash-key-0123456789"
    }));
    let redaction = redaction.build().expect("redaction builds");
    let (codex, team) = (codex(), team());
    let chain: [&dyn Processor; 3] = [&codex, &redaction, &team];
    let md = Metadata::default();
    let limits = processors::logs_view::ViewLimits {
        max_attributes: 1000,
        max_string: 64 << 10,
        max_depth: 32,
        max_items: 100_000,
    };
    let decoded = |bytes: &[u8]| {
        let mut req = ExportLogsServiceRequest::decode(bytes).expect("decode");
        for p in chain {
            p.process_logs(&mut req, &mut ProcessContext::new(&md));
        }
        req.encode_to_vec()
    };
    let viewed = |bytes: &[u8]| {
        let mut view = processors::logs_view::LogsView::parse(bytes, &limits).expect("a view");
        for p in chain {
            p.process_log_views(&mut view, &mut ProcessContext::new(&md));
        }
        view.encode_to_vec()
    };
    assert_eq!(decoded(bytes), viewed(bytes), "the two paths differ");
    let mut g = c.benchmark_group("logs_chain");
    g.throughput(Throughput::Elements(n_logs as u64));
    g.bench_function("decoded", |b| b.iter(|| decoded(black_box(bytes))));
    g.bench_function("view", |b| b.iter(|| viewed(black_box(bytes))));
    g.finish();
}

fn criterion() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = transform;
    config = criterion();
    targets = benches
}
criterion_main!(transform);
