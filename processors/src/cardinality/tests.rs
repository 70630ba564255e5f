use super::*;
use crate::Metadata;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum,
};

fn s(key: &str, v: &str) -> KeyValue {
    crate::kv(key, any_value::Value::StringValue(v.into()))
}

fn int_point(attrs: Vec<KeyValue>, v: i64, t: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: t,
        time_unix_nano: t + 10,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    }
}

fn sum(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn build(json: &str) -> CardinalityProcessor {
    serde_json::from_str::<CardinalityConfig>(json)
        .unwrap_or_else(|e| panic!("{json}: {e}"))
        .build()
        .expect("valid")
}

type Counts = Vec<(String, String, u64)>;

fn run_at(
    p: &CardinalityProcessor,
    req: &mut ExportMetricsServiceRequest,
    now: Instant,
) -> (Counts, u64) {
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_metrics_at(req, &mut cx, now);
    let counts = cx
        .counts()
        .iter()
        .map(|(n, l, v)| (n.to_string(), l.clone(), *v))
        .collect();
    (counts, cx.dropped())
}

fn run(p: &CardinalityProcessor, req: &mut ExportMetricsServiceRequest) -> (Counts, u64) {
    run_at(p, req, Instant::now())
}

fn points(req: &ExportMetricsServiceRequest) -> Vec<(Vec<KeyValue>, i64)> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .flat_map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.clone(),
            _ => Vec::new(),
        })
        .map(|p| {
            let v = match p.value {
                Some(number_data_point::Value::AsInt(n)) => n,
                _ => -1,
            };
            (p.attributes, v)
        })
        .collect()
}

fn count(c: &Counts, name: &str, label: &str) -> u64 {
    c.iter()
        .filter(|(n, l, _)| n == name && l == label)
        .map(|x| x.2)
        .sum()
}

#[test]
fn codex_preset_strips_per_turn_ids_and_adds_up_the_turns_of_one_series() {
    let p = build(r#"{"preset": "codex"}"#);
    let turn = |id: &str, usd: i64| {
        int_point(
            vec![
                s("turn.id", id),
                s("model", "gpt-5.1-codex"),
                s("conversation.id", "c1"),
            ],
            usd,
            100,
        )
    };
    let mut req = request(vec![sum(
        "codex.turn.cost_microusd",
        vec![turn("t1", 12_346), turn("t2", 1_000), turn("t3", 4)],
    )]);
    let (c, dropped) = run(&p, &mut req);
    assert_eq!(
        points(&req),
        vec![(vec![s("model", "gpt-5.1-codex")], 13_350)]
    );
    assert_eq!(
        count(
            &c,
            "attributes_stripped",
            "codex.turn.cost_microusd/turn.id"
        ),
        3
    );
    assert_eq!(
        count(
            &c,
            "attributes_stripped",
            "codex.turn.cost_microusd/conversation.id"
        ),
        3
    );
    assert_eq!(count(&c, "points_merged", "codex.turn.cost_microusd"), 2);
    assert_eq!(dropped, 2, "merged points leave the request");
}

#[test]
fn sets_beyond_the_limit_go_to_one_overflow_series_with_their_sum() {
    let p = build(r#"{"max_attribute_sets": 3}"#);
    let pts = (0..6)
        .map(|i| int_point(vec![s("user", &format!("u{i}"))], 10 + i, 100))
        .collect();
    let mut req = request(vec![sum("codex.tool.call", pts)]);
    let (c, _) = run(&p, &mut req);
    let got = points(&req);
    // Two regular sets, then the overflow set: three series in all.
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], (vec![s("user", "u0")], 10));
    assert_eq!(got[1], (vec![s("user", "u1")], 11));
    assert_eq!(
        got[2],
        (vec![overflow_attribute()], 12 + 13 + 14 + 15),
        "the overflowed values are kept, summed"
    );
    assert_eq!(count(&c, "cardinality_overflow", "codex.tool.call"), 4);
    assert_eq!(count(&c, "points_merged", "codex.tool.call"), 3);
    // A known set stays admitted later in the interval; a new one still overflows.
    let mut again = request(vec![sum(
        "codex.tool.call",
        vec![
            int_point(vec![s("user", "u1")], 1, 200),
            int_point(vec![s("user", "u9")], 1, 200),
        ],
    )]);
    run(&p, &mut again);
    assert_eq!(
        points(&again),
        vec![(vec![s("user", "u1")], 1), (vec![overflow_attribute()], 1)]
    );
}

#[test]
fn attribute_order_does_not_make_a_new_set() {
    let p = build(r#"{"max_attribute_sets": 2}"#);
    let mut req = request(vec![sum(
        "m",
        vec![
            int_point(vec![s("a", "1"), s("b", "2")], 1, 100),
            int_point(vec![s("b", "2"), s("a", "1")], 1, 200),
        ],
    )]);
    let (c, _) = run(&p, &mut req);
    assert_eq!(count(&c, "cardinality_overflow", "m"), 0);
    assert_eq!(p.tracked_sets(), 1);
}

#[test]
fn the_limit_counts_per_interval() {
    let p = build(r#"{"max_attribute_sets": 2, "interval": "1m"}"#);
    let t0 = Instant::now();
    let one = |v: &str| request(vec![sum("m", vec![int_point(vec![s("k", v)], 1, 1)])]);
    run_at(&p, &mut one("a"), t0);
    let (c, _) = run_at(&p, &mut one("b"), t0 + Duration::from_secs(30));
    assert_eq!(count(&c, "cardinality_overflow", "m"), 1);
    let mut later = one("b");
    let (c, _) = run_at(&p, &mut later, t0 + Duration::from_secs(61));
    assert_eq!(count(&c, "cardinality_overflow", "m"), 0, "a new interval");
    assert_eq!(points(&later), vec![(vec![s("k", "b")], 1)]);
}

#[test]
fn metrics_beyond_max_metrics_overflow_under_one_label() {
    let p = build(r#"{"max_metrics": 1}"#);
    let mut req = request(vec![
        sum("first", vec![int_point(vec![s("k", "v")], 1, 1)]),
        sum("second", vec![int_point(vec![s("k", "v")], 1, 1)]),
    ]);
    let (c, _) = run(&p, &mut req);
    assert_eq!(count(&c, "cardinality_overflow", UNTRACKED_LABEL), 1);
    assert_eq!(p.tracked_metrics(), 1);
}

#[test]
fn histograms_merge_when_their_bounds_agree_and_gauges_keep_the_newest() {
    let p = build(r#"{"strip_attributes": ["turn.id"]}"#);
    let hist = |id: &str, bounds: Vec<f64>, counts: Vec<u64>| HistogramDataPoint {
        attributes: vec![s("turn.id", id)],
        count: counts.iter().sum(),
        sum: Some(counts.iter().sum::<u64>() as f64),
        bucket_counts: counts,
        explicit_bounds: bounds,
        min: Some(1.0),
        max: Some(2.0),
        ..Default::default()
    };
    let gauge = |id: &str, v: i64, t: u64| NumberDataPoint {
        attributes: vec![s("turn.id", id)],
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    };
    let mut req = request(vec![
        Metric {
            name: "h".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![
                    hist("a", vec![1.0], vec![1, 2]),
                    hist("b", vec![1.0], vec![3, 4]),
                    hist("c", vec![5.0], vec![1, 1]),
                ],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        },
        Metric {
            name: "g".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![gauge("a", 7, 20), gauge("b", 5, 10)],
            })),
            ..Default::default()
        },
    ]);
    let (c, _) = run(&p, &mut req);
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Histogram(h)) = &metrics[0].data else {
        panic!("histogram")
    };
    assert_eq!(h.data_points.len(), 2);
    assert_eq!(h.data_points[0].bucket_counts, vec![4, 6]);
    assert_eq!(h.data_points[0].count, 10);
    assert_eq!(count(&c, "points_not_merged", "h"), 1);
    let Some(Data::Gauge(g)) = &metrics[1].data else {
        panic!("gauge")
    };
    assert_eq!(g.data_points.len(), 1);
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(7))
    );
}

#[test]
fn a_million_distinct_ids_keep_the_state_at_the_limit() {
    let p = build(r#"{"max_attribute_sets": 1000}"#);
    let md = Metadata::default();
    for batch in 0..100 {
        let pts = (0..10_000)
            .map(|i| int_point(vec![s("id", &format!("{batch}-{i}"))], 1, 1))
            .collect();
        let mut req = request(vec![sum("m", pts)]);
        let mut cx = ProcessContext::new(&md);
        p.process_metrics(&mut req, &mut cx);
        assert!(points(&req).len() <= 1000);
    }
    assert_eq!(p.tracked_sets(), 999, "the overflow set is not stored");
}

#[test]
fn points_nothing_changed_are_left_alone() {
    let p = build("{}");
    let pts = vec![
        int_point(vec![s("k", "v")], 1, 1),
        int_point(vec![s("k", "v")], 2, 5),
    ];
    let mut req = request(vec![sum("m", pts.clone())]);
    run(&p, &mut req);
    assert_eq!(points(&req).len(), 2, "duplicates the client sent stay");
}

#[test]
fn bad_configs_are_reported_together() {
    let errs = serde_json::from_str::<CardinalityConfig>(
        r#"{"max_attribute_sets": 0, "max_metrics": 0, "interval": "0", "strip_attributes": [""], "limits": {"m": 0}}"#,
    )
    .expect("parses")
    .build()
    .expect_err("invalid");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "max_attribute_sets",
            "limits.m",
            "interval",
            "max_metrics",
            "strip_attributes[0]"
        ]
    );
    assert!(serde_json::from_str::<CardinalityConfig>(r#"{"preset": "prometheus"}"#).is_err());
}
