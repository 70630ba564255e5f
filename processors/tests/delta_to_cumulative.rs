//! `delta_to_cumulative` on real Codex metrics and on hand-built streams: running totals, start
//! times, resets, ordering, the stream bound, staleness, attribute order and concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use processors::clock::ManualClock;
use processors::delta_to_cumulative::{DeltaToCumulativeConfig, DeltaToCumulativeProcessor};
use processors::{Metadata, OtlpRequest, ProcessContext, Processor};
use prost::Message;
use std::sync::Arc;
use std::time::Duration;

const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const SEC: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fixture() -> ExportMetricsServiceRequest {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/failing-tool-loop-protobuf/004_metrics.pb"
    ))
    .expect("fixture");
    ExportMetricsServiceRequest::decode(body.as_slice()).expect("decode")
}

fn processor() -> DeltaToCumulativeProcessor {
    DeltaToCumulativeConfig::default().build().expect("valid")
}

fn processor_with(
    max_stale: Duration,
    max_streams: usize,
    clock: &Arc<ManualClock>,
) -> DeltaToCumulativeProcessor {
    DeltaToCumulativeConfig {
        max_stale,
        max_streams,
    }
    .build_with_clock(Arc::clone(clock))
    .expect("valid")
}

/// Runs the processor; returns (dropped, counts).
fn run(
    p: &DeltaToCumulativeProcessor,
    req: &mut ExportMetricsServiceRequest,
) -> (u64, Vec<(&'static str, String, u64)>) {
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_metrics(req, &mut cx);
    (cx.dropped(), cx.counts().to_vec())
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(
                    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                        name: "codex".into(),
                        ..Default::default()
                    },
                ),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn service() -> Vec<KeyValue> {
    vec![kv("service.name", "codex_exec"), kv("env", "prod")]
}

fn sum(name: &str, monotonic: bool, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: DELTA,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

fn number(attrs: Vec<KeyValue>, start: u64, end: u64, value: Number) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: end,
        value: Some(value),
        ..Default::default()
    }
}

fn histogram(name: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: "ms".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: DELTA,
        })),
        ..Default::default()
    }
}

fn hist_point(
    start: u64,
    end: u64,
    bounds: &[f64],
    buckets: &[u64],
    min: f64,
    max: f64,
) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![kv("tool", "exec_command")],
        start_time_unix_nano: start,
        time_unix_nano: end,
        count: buckets.iter().sum(),
        sum: Some(buckets.iter().sum::<u64>() as f64 * 10.0),
        bucket_counts: buckets.to_vec(),
        explicit_bounds: bounds.to_vec(),
        min: Some(min),
        max: Some(max),
        ..Default::default()
    }
}

fn metrics(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

fn sum_points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(Data::Sum(s)) => &s.data_points,
        _ => panic!("{} is not a sum", m.name),
    }
}

fn hist_points(m: &Metric) -> &[HistogramDataPoint] {
    match &m.data {
        Some(Data::Histogram(h)) => &h.data_points,
        _ => panic!("{} is not a histogram", m.name),
    }
}

fn temporality(m: &Metric) -> Option<i32> {
    match &m.data {
        Some(Data::Sum(s)) => Some(s.aggregation_temporality),
        Some(Data::Histogram(h)) => Some(h.aggregation_temporality),
        Some(Data::ExponentialHistogram(h)) => Some(h.aggregation_temporality),
        _ => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Request `k` of a synthetic sequence: every fixture point shifted by `k` hours (so the deltas
/// follow each other without overlap) and its values scaled by `k + 1`.
fn shifted(base: &ExportMetricsServiceRequest, k: u64) -> ExportMetricsServiceRequest {
    let mut req = base.clone();
    let shift = k * 3600 * SEC;
    let f = k + 1;
    for m in req
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics)
    {
        match &mut m.data {
            Some(Data::Sum(s)) => {
                for p in &mut s.data_points {
                    p.start_time_unix_nano += shift;
                    p.time_unix_nano += shift;
                    p.value = match p.value {
                        Some(Number::AsInt(v)) => Some(Number::AsInt(v * f as i64)),
                        Some(Number::AsDouble(v)) => Some(Number::AsDouble(v * f as f64)),
                        None => None,
                    };
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &mut h.data_points {
                    p.start_time_unix_nano += shift;
                    p.time_unix_nano += shift;
                    p.count *= f;
                    p.sum = p.sum.map(|s| s * f as f64);
                    p.bucket_counts.iter_mut().for_each(|c| *c *= f);
                    p.min = p.min.map(|v| v * f as f64);
                    p.max = p.max.map(|v| v * f as f64);
                }
            }
            _ => {}
        }
    }
    req
}

// ---------------------------------------------------------------------------------------------
// On the real Codex fixture
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_replay_marks_every_delta_cumulative_and_keeps_first_values() {
    let original = fixture();
    let mut req = original.clone();
    let p = processor();
    let (dropped, counts) = run(&p, &mut req);
    assert_eq!(dropped, 0);
    assert!(counts.is_empty(), "{counts:?}");
    assert_eq!(req.item_count(), original.item_count());
    let before = metrics(&original);
    let after = metrics(&req);
    assert!(before.len() >= 50, "{} metrics", before.len());
    let mut sums = 0;
    let mut hists = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(temporality(b), Some(DELTA), "{}", b.name);
        assert_eq!(temporality(a), Some(CUMULATIVE), "{}", a.name);
        // The first delta of a stream is its own cumulative value: points are unchanged.
        match (&b.data, &a.data) {
            (Some(Data::Sum(x)), Some(Data::Sum(y))) => {
                assert_eq!(x.data_points, y.data_points);
                sums += 1;
            }
            (Some(Data::Histogram(x)), Some(Data::Histogram(y))) => {
                assert_eq!(x.data_points, y.data_points);
                hists += 1;
            }
            other => panic!("unexpected metric data {other:?}"),
        }
    }
    assert!(sums > 10 && hists > 10, "{sums} sums, {hists} histograms");
    assert_eq!(p.stream_count(), original.item_count());
}

#[test]
fn three_shifted_fixture_requests_accumulate_to_running_totals() {
    let base = fixture();
    let p = processor();
    for k in 0..3u64 {
        let mut req = shifted(&base, k);
        let (dropped, counts) = run(&p, &mut req);
        assert_eq!(dropped, 0, "request {k}");
        assert!(counts.is_empty(), "request {k}: {counts:?}");
        // Sum of the scale factors 1..=k+1.
        let total = ((k + 1) * (k + 2) / 2) as f64;
        for (orig, out) in metrics(&base).iter().zip(metrics(&req)) {
            assert_eq!(temporality(out), Some(CUMULATIVE), "{}", out.name);
            match &orig.data {
                Some(Data::Sum(_)) => {
                    for (o, c) in sum_points(orig).iter().zip(sum_points(out)) {
                        assert_eq!(
                            c.start_time_unix_nano, o.start_time_unix_nano,
                            "{}",
                            out.name
                        );
                        assert_eq!(c.time_unix_nano, o.time_unix_nano + k * 3600 * SEC);
                        match (o.value, c.value) {
                            (Some(Number::AsInt(o)), Some(Number::AsInt(c))) => {
                                assert_eq!(c, o * total as i64, "{}", out.name)
                            }
                            (Some(Number::AsDouble(o)), Some(Number::AsDouble(c))) => {
                                assert!(close(c, o * total), "{}: {c} vs {o} × {total}", out.name)
                            }
                            other => panic!("{}: {other:?}", out.name),
                        }
                    }
                }
                Some(Data::Histogram(_)) => {
                    for (o, c) in hist_points(orig).iter().zip(hist_points(out)) {
                        assert_eq!(
                            c.start_time_unix_nano, o.start_time_unix_nano,
                            "{}",
                            out.name
                        );
                        assert_eq!(c.count, o.count * total as u64, "{}", out.name);
                        let want: Vec<u64> =
                            o.bucket_counts.iter().map(|b| b * total as u64).collect();
                        assert_eq!(c.bucket_counts, want, "{}", out.name);
                        assert_eq!(c.explicit_bounds, o.explicit_bounds);
                        if let (Some(os), Some(cs)) = (o.sum, c.sum) {
                            assert!(
                                close(cs, os * total),
                                "{}: sum {cs} vs {os} × {total}",
                                out.name
                            );
                        } else {
                            assert_eq!(o.sum.is_some(), c.sum.is_some());
                        }
                        // min scaled by 1..=k+1 → the running min is the first one (values ≥ 0);
                        // the running max is the last one.
                        if let (Some(omin), Some(omax)) = (o.min, o.max) {
                            assert!(omin >= 0.0);
                            assert_eq!(c.min, Some(omin), "{}", out.name);
                            assert!(close(c.max.expect("max"), omax * (k + 1) as f64));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(p.stream_count(), base.item_count());
}

#[test]
fn replaying_the_same_fixture_request_is_dropped_as_overlapping() {
    let p = processor();
    let mut first = fixture();
    run(&p, &mut first);
    let mut again = fixture();
    let points = again.item_count() as u64;
    let (dropped, counts) = run(&p, &mut again);
    assert_eq!(dropped, points);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "out_of_order".to_string(), points)]
    );
    assert_eq!(again.item_count(), 0);
    again.prune();
    assert!(again.resource_metrics.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Streams built by hand
// ---------------------------------------------------------------------------------------------

#[test]
fn monotonic_int_and_non_monotonic_double_sums_keep_running_totals() {
    let p = processor();
    let deltas_int = [3i64, 0, 4];
    let deltas_f = [2.5f64, -1.0, 0.25];
    let mut got = Vec::new();
    for k in 0..3u64 {
        let mut req = request(
            service(),
            vec![
                sum(
                    "codex.tool.call",
                    true,
                    vec![number(
                        vec![kv("tool", "shell")],
                        100 + 10 * k,
                        110 + 10 * k,
                        Number::AsInt(deltas_int[k as usize]),
                    )],
                ),
                sum(
                    "codex.queue.depth",
                    false,
                    vec![number(
                        vec![],
                        100 + 10 * k,
                        110 + 10 * k,
                        Number::AsDouble(deltas_f[k as usize]),
                    )],
                ),
            ],
        );
        run(&p, &mut req);
        let ms = metrics(&req);
        let a = &sum_points(ms[0])[0];
        let b = &sum_points(ms[1])[0];
        assert_eq!(a.start_time_unix_nano, 100);
        assert_eq!(b.start_time_unix_nano, 100);
        assert_eq!(a.time_unix_nano, 110 + 10 * k);
        got.push((a.value, b.value));
        assert_eq!(temporality(ms[0]), Some(CUMULATIVE));
        assert_eq!(temporality(ms[1]), Some(CUMULATIVE));
    }
    assert_eq!(
        got,
        vec![
            (Some(Number::AsInt(3)), Some(Number::AsDouble(2.5))),
            (Some(Number::AsInt(3)), Some(Number::AsDouble(1.5))),
            (Some(Number::AsInt(7)), Some(Number::AsDouble(1.75))),
        ]
    );
}

#[test]
fn histogram_buckets_accumulate_and_a_layout_change_resets_the_stream() {
    let p = processor();
    let bounds = [10.0, 100.0];
    let mut req = request(
        service(),
        vec![histogram(
            "codex.tool.call.duration_ms",
            vec![hist_point(SEC, 2 * SEC, &bounds, &[1, 0, 0], 5.0, 5.0)],
        )],
    );
    run(&p, &mut req);
    let mut req = request(
        service(),
        vec![histogram(
            "codex.tool.call.duration_ms",
            vec![hist_point(
                2 * SEC,
                3 * SEC,
                &bounds,
                &[0, 2, 1],
                20.0,
                300.0,
            )],
        )],
    );
    let (_, counts) = run(&p, &mut req);
    assert!(counts.is_empty());
    let h = &hist_points(metrics(&req)[0])[0];
    assert_eq!(h.bucket_counts, vec![1, 2, 1]);
    assert_eq!(h.count, 4);
    assert_eq!(h.sum, Some(40.0));
    assert_eq!((h.min, h.max), (Some(5.0), Some(300.0)));
    assert_eq!(h.start_time_unix_nano, SEC);
    assert_eq!(h.time_unix_nano, 3 * SEC);

    // New bucket layout: the stream starts over with this point and its start time.
    let new_bounds = [10.0, 100.0, 1000.0];
    let mut req = request(
        service(),
        vec![histogram(
            "codex.tool.call.duration_ms",
            vec![hist_point(
                3 * SEC,
                4 * SEC,
                &new_bounds,
                &[0, 0, 1, 1],
                500.0,
                2000.0,
            )],
        )],
    );
    let (dropped, counts) = run(&p, &mut req);
    assert_eq!(dropped, 0);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "reset".to_string(), 1)]
    );
    let h = &hist_points(metrics(&req)[0])[0];
    assert_eq!(h.bucket_counts, vec![0, 0, 1, 1]);
    assert_eq!(h.count, 2);
    assert_eq!(h.start_time_unix_nano, 3 * SEC);
    assert_eq!((h.min, h.max), (Some(500.0), Some(2000.0)));

    // And accumulates on the new layout from there.
    let mut req = request(
        service(),
        vec![histogram(
            "codex.tool.call.duration_ms",
            vec![hist_point(
                4 * SEC,
                5 * SEC,
                &new_bounds,
                &[1, 0, 0, 0],
                1.0,
                1.0,
            )],
        )],
    );
    run(&p, &mut req);
    let h = &hist_points(metrics(&req)[0])[0];
    assert_eq!(h.bucket_counts, vec![1, 0, 1, 1]);
    assert_eq!(h.start_time_unix_nano, 3 * SEC);
    assert_eq!((h.min, h.max), (Some(1.0), Some(2000.0)));
    assert_eq!(p.stream_count(), 1);
}

#[test]
fn overlapping_and_out_of_order_deltas_are_dropped_and_counted() {
    let p = processor();
    let point = |start, end, v| {
        request(
            service(),
            vec![sum(
                "codex.tool.call",
                true,
                vec![number(vec![], start, end, Number::AsInt(v))],
            )],
        )
    };
    let mut r = point(10, 20, 1);
    run(&p, &mut r);
    let mut overlapping = point(15, 25, 100);
    let (dropped, counts) = run(&p, &mut overlapping);
    assert_eq!(dropped, 1);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "out_of_order".to_string(), 1)]
    );
    assert_eq!(overlapping.item_count(), 0);
    let mut older = point(0, 10, 100);
    assert_eq!(run(&p, &mut older).0, 1);
    let mut next = point(20, 30, 2);
    assert_eq!(run(&p, &mut next).0, 0);
    assert_eq!(
        sum_points(metrics(&next)[0])[0].value,
        Some(Number::AsInt(3))
    );
    // A gap is fine.
    let mut later = point(50, 60, 4);
    assert_eq!(run(&p, &mut later).0, 0);
    assert_eq!(
        sum_points(metrics(&later)[0])[0].value,
        Some(Number::AsInt(7))
    );
    assert_eq!(sum_points(metrics(&later)[0])[0].start_time_unix_nano, 10);
}

#[test]
fn gauges_summaries_and_cumulative_metrics_pass_through_untouched() {
    let p = processor();
    let mut cumulative = sum(
        "already.cumulative",
        true,
        vec![number(vec![], 1, 2, Number::AsInt(5))],
    );
    if let Some(Data::Sum(s)) = &mut cumulative.data {
        s.aggregation_temporality = CUMULATIVE;
    }
    let original = request(
        service(),
        vec![
            Metric {
                name: "a.gauge".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![number(vec![], 1, 2, Number::AsDouble(0.5))],
                })),
                ..Default::default()
            },
            Metric {
                name: "a.summary".into(),
                data: Some(Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        count: 3,
                        sum: 7.0,
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
            cumulative,
        ],
    );
    let mut req = original.clone();
    let (dropped, counts) = run(&p, &mut req);
    assert_eq!((dropped, counts.len()), (0, 0));
    assert_eq!(req, original);
    assert_eq!(p.stream_count(), 0);
}

#[test]
fn attribute_order_does_not_split_streams() {
    let p = processor();
    let mut a = request(
        vec![kv("service.name", "codex_exec"), kv("env", "prod")],
        vec![sum(
            "codex.tool.call",
            true,
            vec![number(
                vec![
                    kv("tool", "shell"),
                    kv("success", "true"),
                    kv("cached", "true"),
                ],
                10,
                20,
                Number::AsInt(1),
            )],
        )],
    );
    run(&p, &mut a);
    let mut b = request(
        vec![kv("env", "prod"), kv("service.name", "codex_exec")],
        vec![sum(
            "codex.tool.call",
            true,
            vec![number(
                vec![
                    kv("cached", "true"),
                    kv("success", "true"),
                    kv("tool", "shell"),
                ],
                20,
                30,
                Number::AsInt(2),
            )],
        )],
    );
    run(&p, &mut b);
    assert_eq!(p.stream_count(), 1);
    let out = &sum_points(metrics(&b)[0])[0];
    assert_eq!(out.value, Some(Number::AsInt(3)));
    assert_eq!(out.start_time_unix_nano, 10);

    // A different value, resource, unit or kind is a different stream.
    let mut c = request(
        vec![kv("env", "staging"), kv("service.name", "codex_exec")],
        vec![sum(
            "codex.tool.call",
            true,
            vec![number(
                vec![kv("success", "true"), kv("tool", "shell")],
                30,
                40,
                Number::AsInt(5),
            )],
        )],
    );
    run(&p, &mut c);
    assert_eq!(sum_points(metrics(&c)[0])[0].value, Some(Number::AsInt(5)));
    let mut d = request(
        service(),
        vec![sum(
            "codex.tool.call",
            false,
            vec![number(
                vec![kv("success", "true"), kv("tool", "shell")],
                30,
                40,
                Number::AsInt(5),
            )],
        )],
    );
    run(&p, &mut d);
    assert_eq!(p.stream_count(), 3);
}

#[test]
fn new_streams_beyond_max_streams_are_dropped_and_counted() {
    let clock = Arc::new(ManualClock::new());
    let p = processor_with(Duration::from_secs(300), 2, &clock);
    let points = |start: u64, tools: &[&str]| {
        request(
            service(),
            vec![sum(
                "codex.tool.call",
                true,
                tools
                    .iter()
                    .map(|t| number(vec![kv("tool", t)], start, start + 10, Number::AsInt(1)))
                    .collect(),
            )],
        )
    };
    let mut r = points(0, &["a", "b", "c"]);
    let (dropped, counts) = run(&p, &mut r);
    assert_eq!(dropped, 1);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "max_streams".to_string(), 1)]
    );
    assert_eq!(r.item_count(), 2);
    assert_eq!(p.stream_count(), 2);
    // Known streams keep accumulating; new ones are still refused.
    let mut r = points(10, &["d", "a", "b"]);
    let (dropped, _) = run(&p, &mut r);
    assert_eq!(dropped, 1);
    let values: Vec<_> = sum_points(metrics(&r)[0]).iter().map(|p| p.value).collect();
    assert_eq!(values, vec![Some(Number::AsInt(2)), Some(Number::AsInt(2))]);
    // Once the old streams are stale, their slots are free again.
    clock.advance(Duration::from_secs(301));
    let mut r = points(20, &["d"]);
    let (dropped, counts) = run(&p, &mut r);
    assert_eq!(dropped, 0);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "expired".to_string(), 2)]
    );
    assert_eq!(p.stream_count(), 1);
}

#[test]
fn stale_streams_expire_and_start_over() {
    let clock = Arc::new(ManualClock::new());
    let p = processor_with(Duration::from_secs(300), 100, &clock);
    let point = |start, end, v| {
        request(
            service(),
            vec![sum(
                "codex.tool.call",
                true,
                vec![number(vec![], start, end, Number::AsInt(v))],
            )],
        )
    };
    let mut r = point(10 * SEC, 20 * SEC, 5);
    run(&p, &mut r);
    clock.advance(Duration::from_secs(240));
    let mut r = point(250 * SEC, 260 * SEC, 3);
    run(&p, &mut r);
    let out = &sum_points(metrics(&r)[0])[0];
    assert_eq!(
        (out.value, out.start_time_unix_nano),
        (Some(Number::AsInt(8)), 10 * SEC)
    );

    // Not updated for more than max_stale (wall clock): forgotten.
    clock.advance(Duration::from_secs(301));
    let mut r = point(560 * SEC, 570 * SEC, 2);
    let (dropped, counts) = run(&p, &mut r);
    assert_eq!(dropped, 0);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "expired".to_string(), 1)]
    );
    let out = &sum_points(metrics(&r)[0])[0];
    assert_eq!(
        (out.value, out.start_time_unix_nano),
        (Some(Number::AsInt(2)), 560 * SEC)
    );
    assert_eq!(p.stream_count(), 1);

    // An idle stream is swept when another request arrives.
    clock.advance(Duration::from_secs(301));
    let mut other = request(
        service(),
        vec![sum(
            "codex.other",
            true,
            vec![number(vec![], SEC, 2 * SEC, Number::AsInt(1))],
        )],
    );
    let (_, counts) = run(&p, &mut other);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "expired".to_string(), 1)]
    );
    assert_eq!(p.stream_count(), 1);
}

#[test]
fn exponential_histograms_accumulate_through_the_processor() {
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint,
    };
    let p = processor();
    let exp = |start, end, scale, offset, counts: Vec<u64>| {
        let count = counts.iter().sum();
        request(
            service(),
            vec![Metric {
                name: "codex.turn.latency".into(),
                unit: "ms".into(),
                data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: end,
                        count,
                        scale,
                        positive: Some(Buckets {
                            offset,
                            bucket_counts: counts,
                        }),
                        ..Default::default()
                    }],
                    aggregation_temporality: DELTA,
                })),
                ..Default::default()
            }],
        )
    };
    let mut r = exp(10, 20, 3, 8, vec![1, 1]);
    run(&p, &mut r);
    // The SDK lowered its scale: the accumulated buckets are downscaled to match.
    let mut r = exp(20, 30, 2, 4, vec![0, 3]);
    let (dropped, counts) = run(&p, &mut r);
    assert_eq!((dropped, counts.len()), (0, 0));
    let m = metrics(&r)[0];
    let Some(Data::ExponentialHistogram(h)) = &m.data else {
        panic!("exponential histogram")
    };
    assert_eq!(h.aggregation_temporality, CUMULATIVE);
    let point = &h.data_points[0];
    assert_eq!(
        (point.count, point.scale, point.start_time_unix_nano),
        (5, 2, 10)
    );
    // Scale 3 indexes 8, 9 → scale 2 index 4.
    assert_eq!(
        point.positive,
        Some(Buckets {
            offset: 4,
            bucket_counts: vec![2, 3]
        })
    );
}

#[test]
fn a_stale_stream_found_between_sweeps_starts_over() {
    // max_stale below the sweep interval: the lookup itself must notice staleness.
    let clock = Arc::new(ManualClock::new());
    let p = processor_with(Duration::from_millis(300), 100, &clock);
    let point = |start, end, v| {
        request(
            service(),
            vec![sum(
                "codex.tool.call",
                true,
                vec![number(vec![], start, end, Number::AsInt(v))],
            )],
        )
    };
    let mut r = point(10, 20, 5);
    run(&p, &mut r);
    clock.advance(Duration::from_millis(200));
    let mut r = point(20, 30, 1);
    assert!(run(&p, &mut r).1.is_empty());
    assert_eq!(sum_points(metrics(&r)[0])[0].value, Some(Number::AsInt(6)));
    clock.advance(Duration::from_millis(400));
    let mut r = point(30, 40, 2);
    let (_, counts) = run(&p, &mut r);
    assert_eq!(
        counts,
        vec![("delta_to_cumulative", "expired".to_string(), 1)]
    );
    let out = &sum_points(metrics(&r)[0])[0];
    assert_eq!(
        (out.value, out.start_time_unix_nano),
        (Some(Number::AsInt(2)), 30)
    );
}

#[test]
fn concurrent_requests_from_several_threads_give_the_right_totals() {
    const THREADS: u64 = 8;
    const REQUESTS: u64 = 250;
    let p = Arc::new(processor());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                let mut last = None;
                for i in 0..REQUESTS {
                    let mut req = request(
                        service(),
                        vec![
                            sum(
                                "codex.tool.call",
                                true,
                                vec![number(
                                    vec![kv("thread", &t.to_string())],
                                    i * 10,
                                    i * 10 + 10,
                                    Number::AsInt((i % 7) as i64),
                                )],
                            ),
                            histogram(
                                "codex.tool.call.duration_ms",
                                vec![{
                                    let mut h = hist_point(
                                        i * 10,
                                        i * 10 + 10,
                                        &[1.0],
                                        &[1, i % 3],
                                        0.5,
                                        2.0,
                                    );
                                    h.attributes = vec![kv("thread", &t.to_string())];
                                    h
                                }],
                            ),
                        ],
                    );
                    let (dropped, _) = run(&p, &mut req);
                    assert_eq!(dropped, 0);
                    last = Some(req);
                }
                last.expect("at least one request")
            })
        })
        .collect();
    let want_sum: i64 = (0..REQUESTS).map(|i| (i % 7) as i64).sum();
    let want_second_bucket: u64 = (0..REQUESTS).map(|i| i % 3).sum();
    for h in handles {
        let last = h.join().expect("thread");
        let ms = metrics(&last);
        assert_eq!(sum_points(ms[0])[0].value, Some(Number::AsInt(want_sum)));
        assert_eq!(sum_points(ms[0])[0].start_time_unix_nano, 0);
        let hist = &hist_points(ms[1])[0];
        assert_eq!(hist.bucket_counts, vec![REQUESTS, want_second_bucket]);
        assert_eq!(hist.count, REQUESTS + want_second_bucket);
    }
    assert_eq!(p.stream_count(), (THREADS * 2) as usize);
}
