//! Property: whatever the interleaving of streams and the order of their attributes, every
//! cumulative point equals the running total of its stream's deltas.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use processors::delta_to_cumulative::DeltaToCumulativeConfig;
use processors::{Metadata, ProcessContext, Processor};
use proptest::prelude::*;
use std::collections::HashMap;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One delta: stream number, whether its attributes are listed reversed, value, two buckets.
type Event = (usize, bool, i64, (u64, u64));

fn request(events: &[Event], first_window: u64) -> ExportMetricsServiceRequest {
    let mut sums = Vec::new();
    let mut hists = Vec::new();
    for (i, (stream, reversed, value, (b0, b1))) in events.iter().enumerate() {
        let mut attrs = vec![kv("stream", &stream.to_string()), kv("tool", "shell")];
        if *reversed {
            attrs.reverse();
        }
        // Every delta gets its own window, so deltas of one stream never overlap.
        let start = (first_window + i as u64) * 10;
        sums.push(NumberDataPoint {
            attributes: attrs.clone(),
            start_time_unix_nano: start,
            time_unix_nano: start + 10,
            value: Some(Number::AsInt(*value)),
            ..Default::default()
        });
        hists.push(HistogramDataPoint {
            attributes: attrs,
            start_time_unix_nano: start,
            time_unix_nano: start + 10,
            count: b0 + b1,
            bucket_counts: vec![*b0, *b1],
            explicit_bounds: vec![100.0],
            ..Default::default()
        });
    }
    let delta = AggregationTemporality::Delta as i32;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "codex.tool.call".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: sums,
                            aggregation_temporality: delta,
                            is_monotonic: false,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "codex.tool.call.duration_ms".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: hists,
                            aggregation_temporality: delta,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn events() -> impl Strategy<Value = Vec<Vec<Event>>> {
    let event = (
        0..4usize,
        any::<bool>(),
        -1000i64..1000,
        (0..50u64, 0..50u64),
    );
    prop::collection::vec(prop::collection::vec(event, 1..8), 1..10)
}

proptest! {
    #[test]
    fn cumulative_points_are_running_totals_per_stream(requests in events()) {
        let p = DeltaToCumulativeConfig::default().build().expect("valid");
        let md = Metadata::default();
        let mut totals: HashMap<usize, (i64, u64, u64)> = HashMap::new();
        let mut window = 0;
        for events in &requests {
            let mut req = request(events, window);
            window += events.len() as u64;
            let mut cx = ProcessContext::new(&md);
            p.process_metrics(&mut req, &mut cx);
            prop_assert_eq!(cx.dropped(), 0);
            let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
            let (Some(Data::Sum(s)), Some(Data::Histogram(h))) = (&metrics[0].data, &metrics[1].data)
            else {
                panic!("sum and histogram");
            };
            for (i, (stream, _, value, (b0, b1))) in events.iter().enumerate() {
                let t = totals.entry(*stream).or_default();
                t.0 += value;
                t.1 += b0;
                t.2 += b1;
                prop_assert_eq!(s.data_points[i].value, Some(Number::AsInt(t.0)));
                prop_assert_eq!(&h.data_points[i].bucket_counts, &vec![t.1, t.2]);
                prop_assert_eq!(h.data_points[i].count, t.1 + t.2);
            }
        }
        prop_assert_eq!(p.stream_count(), totals.len() * 2);
    }
}
