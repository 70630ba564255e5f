use super::*;
use crate::Metadata;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use prost::Message;

fn fixture(path: &str) -> ExportLogsServiceRequest {
    let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    ExportLogsServiceRequest::decode(bytes.as_slice()).expect("fixture decodes")
}

fn build(json: &str) -> CodexUsage {
    serde_json::from_str::<CodexUsageConfig>(json)
        .unwrap_or_else(|e| panic!("{json}: {e}"))
        .build()
        .expect("valid config")
}

fn run(c: &CodexUsage, req: &ExportLogsServiceRequest) -> ExportMetricsServiceRequest {
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    c.consume_logs(req, &mut cx).expect("usage found")
}

fn metric<'a>(m: &'a ExportMetricsServiceRequest, name: &str) -> Vec<&'a Metric> {
    m.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|x| x.name == name)
        .collect()
}

fn sum_points<'a>(m: &'a ExportMetricsServiceRequest, name: &str) -> Vec<&'a NumberDataPoint> {
    metric(m, name)
        .into_iter()
        .flat_map(|x| match &x.data {
            Some(metric::Data::Sum(s)) => s.data_points.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

fn label<'a>(p: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    crate::find_attr(p, key)
}

fn int_total(m: &ExportMetricsServiceRequest, name: &str, key: &str, val: &str) -> i64 {
    sum_points(m, name)
        .into_iter()
        .filter(|p| {
            label(&p.attributes, key) == Some(&any_value::Value::StringValue(val.to_string()))
        })
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(n)) => n,
            _ => panic!("int expected"),
        })
        .sum()
}

/// Sums of the `*_token_count` attributes on response.completed events, computed independently.
fn fixture_token_sums(req: &ExportLogsServiceRequest) -> [i64; 4] {
    let mut out = [0i64; 4];
    for r in req
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
    {
        if str_attr(&r.attributes, "event.kind") != Some("response.completed") {
            continue;
        }
        for (i, k) in [
            "input_token_count",
            "cached_token_count",
            "output_token_count",
            "reasoning_token_count",
        ]
        .iter()
        .enumerate()
        {
            out[i] += int_attr(&r.attributes, k).unwrap_or(0);
        }
    }
    out
}

#[test]
fn token_counters_equal_the_sums_of_the_token_count_attributes() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let sums = fixture_token_sums(&req);
    assert_eq!(sums, [720_036, 160_000, 24_000, 12_000]);
    let out = run(&build("{}"), &req);
    for (i, ty) in ["input", "cached_input", "output", "reasoning_output"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            int_total(&out, names::TOKENS, "token_type", ty),
            sums[i],
            "{ty}"
        );
    }
    let p = sum_points(&out, names::TOKENS)[0];
    assert_eq!(
        label(&p.attributes, "model"),
        Some(&any_value::Value::StringValue("gpt-5.1-codex".into()))
    );
}

#[test]
fn tool_calls_decisions_and_api_requests_are_counted_by_their_dimensions() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let out = run(&build("{}"), &req);
    assert_eq!(
        int_total(&out, names::TOOL_CALLS, "tool_name", "exec_command"),
        7
    );
    assert_eq!(int_total(&out, names::TOOL_CALLS, "success", "true"), 7);
    assert_eq!(
        int_total(&out, names::TOOL_DECISIONS, "decision", "approved"),
        7
    );
    assert_eq!(
        int_total(&out, names::TOOL_DECISIONS, "source", "Config"),
        7
    );
    assert_eq!(int_total(&out, names::API_REQUESTS, "error", "false"), 8);
    let h = match &metric(&out, names::TOOL_DURATION)[0].data {
        Some(metric::Data::Histogram(h)) => h.data_points[0].clone(),
        _ => panic!("histogram"),
    };
    assert_eq!(h.count, 7);
    assert_eq!(h.sum, Some(168.0 + 30.0 + 31.0 + 30.0 + 31.0 + 30.0 + 30.0));
    assert_eq!(h.bucket_counts.iter().sum::<u64>(), 7);
    assert_eq!(h.min, Some(30.0));
    assert_eq!(h.max, Some(168.0));

    let retries = run(&build("{}"), &fixture("api-retries-protobuf/004_logs.pb"));
    assert_eq!(int_total(&retries, names::API_REQUESTS, "error", "true"), 2);
    assert_eq!(
        int_total(&retries, names::API_REQUESTS, "error", "false"),
        2
    );
    let statuses: Vec<i64> = sum_points(&retries, names::API_REQUESTS)
        .iter()
        .filter_map(
            |p| match label(&p.attributes, "http.response.status_code") {
                Some(any_value::Value::IntValue(n)) => Some(*n),
                _ => None,
            },
        )
        .collect();
    for s in [500, 429, 200] {
        assert!(statuses.contains(&s), "{statuses:?}");
    }
}

#[test]
fn cumulative_totals_grow_across_requests_and_keep_their_start_time() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    // Without the retry window, the same body twice counts twice.
    let c = build(r#"{"dedup": {"enabled": false}}"#);
    let first = run(&c, &req);
    let second = run(&c, &req);
    assert_eq!(
        int_total(&second, names::TOKENS, "token_type", "input"),
        2 * 720_036
    );
    let s1 = sum_points(&first, names::TOKENS)[0].start_time_unix_nano;
    let s2 = sum_points(&second, names::TOKENS)[0].start_time_unix_nano;
    assert_eq!(s1, s2);
    assert!(s1 > 0);
    let delta = build(r#"{"aggregation_temporality": "delta", "dedup": {"enabled": false}}"#);
    run(&delta, &req);
    let again = run(&delta, &req);
    assert_eq!(
        int_total(&again, names::TOKENS, "token_type", "input"),
        720_036
    );
    assert_eq!(delta.stream_count(), 0, "delta keeps no streams");
}

/// `req` as a later session would send it: every record at a new time of its own.
fn retimed(req: &ExportLogsServiceRequest) -> ExportLogsServiceRequest {
    let mut later = req.clone();
    let mut t = 4_000_000_000_000_000_000u64;
    for r in later
        .resource_logs
        .iter_mut()
        .flat_map(|r| &mut r.scope_logs)
        .flat_map(|s| &mut s.log_records)
    {
        r.attributes.retain(|kv| kv.key != "event.timestamp");
        t += 1_000_000;
        r.time_unix_nano = t;
    }
    later
}

fn counts(cx: &ProcessContext<'_>, name: &str) -> u64 {
    cx.counts()
        .iter()
        .filter(|(n, _, _)| *n == name)
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn a_body_delivered_twice_is_counted_once() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let c = build("{}");
    let first = run(&c, &req);
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    assert!(
        c.consume_logs(&req, &mut cx).is_none(),
        "nothing new in a resent body"
    );
    let records = req
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|r| !c.points_of(r, None).is_empty())
        .count() as u64;
    assert_eq!(counts(&cx, "duplicates_skipped"), records);
    assert_eq!(
        int_total(&first, names::TOKENS, "token_type", "input"),
        720_036
    );
    // A later, different body still adds up.
    let second = run(&c, &retimed(&req));
    assert_eq!(
        int_total(&second, names::TOKENS, "token_type", "input"),
        2 * 720_036
    );
}

#[test]
fn reordered_resource_attributes_continue_the_same_stream() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let mut reordered = req.clone();
    let res = reordered.resource_logs[0]
        .resource
        .as_mut()
        .expect("resource");
    assert!(res.attributes.len() > 2);
    res.attributes.reverse();
    let c = build(r#"{"dedup": {"enabled": false}}"#);
    run(&c, &req);
    let out = run(&c, &reordered);
    assert_eq!(
        sum_points(&out, names::TOKENS).len(),
        4,
        "one stream per token type"
    );
    assert_eq!(
        int_total(&out, names::TOKENS, "token_type", "input"),
        2 * 720_036
    );
}

#[test]
fn the_retry_window_is_bounded_by_entries_and_time() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let c = build(r#"{"dedup": {"max_entries": 3, "window": "1m"}}"#);
    let md = Metadata::default();
    let t0 = Instant::now();
    let mut cx = ProcessContext::new(&md);
    c.consume_logs_at(&req, &mut cx, 1, t0);
    assert_eq!(c.recent_count(), 3);
    assert!(
        counts(&cx, "dedup_evicted") > 0,
        "overflow evictions are counted"
    );
    // Past the window everything is forgotten (and counted as expired).
    let mut cx = ProcessContext::new(&md);
    let c2 = build(r#"{"dedup": {"window": "1m"}}"#);
    c2.consume_logs_at(&req, &mut cx, 1, t0);
    let mut cx = ProcessContext::new(&md);
    let again = c2.consume_logs_at(&req, &mut cx, 2, t0 + Duration::from_secs(61));
    assert!(again.is_some(), "a resend after the window counts again");
    assert!(counts(&cx, "dedup_evicted") > 0);
}

#[test]
fn a_connector_built_for_a_reload_continues_the_totals() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let cfg: CodexUsageConfig = serde_json::from_str("{}").expect("config");
    let old = cfg.build().expect("builds");
    let first = run(&old, &req);
    let new = cfg.build_continuing(Some(&old)).expect("builds");
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    assert!(
        new.consume_logs(&req, &mut cx).is_none(),
        "the retry window carries over"
    );
    let second = run(&new, &retimed(&req));
    assert_eq!(
        int_total(&second, names::TOKENS, "token_type", "input"),
        2 * 720_036
    );
    assert_eq!(
        sum_points(&first, names::TOKENS)[0].start_time_unix_nano,
        sum_points(&second, names::TOKENS)[0].start_time_unix_nano
    );
}

#[test]
fn a_snapshot_restores_totals_start_times_and_the_retry_window() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let before = build("{}");
    let first = run(&before, &req);
    let snap = before.snapshot();
    let text = serde_json::to_string(&snap).expect("serializes");
    let back: UsageSnapshot = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(back, snap);
    let after = build("{}");
    after.restore(&back).expect("restores");
    assert_eq!(after.stream_count(), before.stream_count());
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    assert!(
        after.consume_logs(&req, &mut cx).is_none(),
        "still a resend"
    );
    let out = run(&after, &retimed(&req));
    assert_eq!(
        int_total(&out, names::TOKENS, "token_type", "input"),
        2 * 720_036
    );
    assert_eq!(
        sum_points(&out, names::TOKENS)[0].start_time_unix_nano,
        sum_points(&first, names::TOKENS)[0].start_time_unix_nano
    );
    let mut bad = back.clone();
    bad.version = 99;
    assert!(after.restore(&bad).is_err());
}

#[test]
fn reported_and_priced_costs_are_labelled_and_reconciled() {
    let record = |event: &str, extra: Vec<KeyValue>| {
        let mut attributes = vec![
            string_kv("event.name", event),
            string_kv("model", "gpt-5.1-codex"),
            string_kv("conversation.id", "c1"),
            string_kv("event.timestamp", "2026-12-04T18:29:16.887Z"),
        ];
        attributes.extend(extra);
        LogRecord {
            attributes,
            ..Default::default()
        }
    };
    let usd = |v: f64| KeyValue {
        key: "cost.usd".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(v)),
        }),
        ..Default::default()
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(
                        "codex.sse_event",
                        vec![
                            string_kv("event.kind", "response.completed"),
                            string_kv("input_token_count", "100"),
                            string_kv("output_token_count", "10"),
                            usd(0.01),
                            string_kv("cost.source", "price_table"),
                        ],
                    ),
                    record(
                        "codex.turn_cost",
                        vec![
                            string_kv("turn.id", "t1"),
                            usd(0.0123456),
                            string_kv("cost.source", "reported"),
                        ],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = run(&build("{}"), &req);
    let cost = |source: &str| {
        sum_points(&out, names::COST)
            .into_iter()
            .filter(|p| {
                label(&p.attributes, COST_SOURCE)
                    == Some(&any_value::Value::StringValue(source.into()))
            })
            .map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                _ => f64::NAN,
            })
            .sum::<f64>()
    };
    assert_eq!(cost(PRICE_TABLE), 0.01);
    assert_eq!(cost(REPORTED), 0.0123456);
    let rec = sum_points(&out, names::COST_RECONCILIATION);
    assert_eq!(rec.len(), 1);
    assert!(
        matches!(rec[0].value, Some(number_data_point::Value::AsDouble(d)) if (d - 0.0023456).abs() < 1e-12)
    );
    assert!(label(&rec[0].attributes, COST_SOURCE).is_none());
    let m = metric(&out, names::COST_RECONCILIATION)[0];
    assert!(matches!(&m.data, Some(metric::Data::Sum(s)) if !s.is_monotonic));
}

#[test]
fn dimensions_come_from_the_record_or_the_resource_and_conversation_id_is_opt_in() {
    let mut req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let rl = &mut req.resource_logs[0];
    if let Some(r) = rl.resource.as_mut() {
        r.attributes.push(string_kv("team", "payments"));
    }
    let out = run(&build("{}"), &req);
    assert_eq!(int_total(&out, names::TOOL_CALLS, "team", "payments"), 7);
    assert!(sum_points(&out, names::TOOL_CALLS).iter().all(|p| label(
        &p.attributes,
        "conversation.id"
    )
    .is_none()));
    assert_eq!(
        out.resource_metrics[0].resource, req.resource_logs[0].resource,
        "the output resource is the input's"
    );
    let with_id = run(&build(r#"{"conversation_id": true}"#), &req);
    assert_eq!(
        int_total(
            &with_id,
            names::TOOL_CALLS,
            "conversation.id",
            "01a1fc6e-fa43-71b0-95bd-d025fbd0e34c"
        ),
        7
    );
}

#[test]
fn cost_attributes_and_alerts_become_counters() {
    let mut req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let mut priced = 0;
    for r in req
        .resource_logs
        .iter_mut()
        .flat_map(|r| &mut r.scope_logs)
        .flat_map(|s| &mut s.log_records)
    {
        if int_attr(&r.attributes, "input_token_count").is_some() {
            r.attributes.push(KeyValue {
                key: "cost.usd".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(0.25)),
                }),
                ..Default::default()
            });
            priced += 1;
        }
    }
    req.resource_logs.push(ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                event_name: "codex.gateway.alert".into(),
                attributes: vec![string_kv("alert.kind", "tool_failure_loop")],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let out = run(&build("{}"), &req);
    let cost: f64 = sum_points(&out, names::COST)
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            _ => panic!("double"),
        })
        .sum();
    assert_eq!(priced, 8);
    assert!((cost - 2.0).abs() < 1e-9, "{cost}");
    assert_eq!(
        int_total(&out, names::ALERTS, "kind", "tool_failure_loop"),
        1
    );
}

#[test]
fn streams_over_the_limit_are_counted_and_left_out() {
    let req = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let c = build(r#"{"max_streams": 2}"#);
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    let out = c.consume_logs(&req, &mut cx).expect("some kept");
    let kept: usize = out
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(crate::metric_point_count)
        .sum();
    assert_eq!(kept, 2);
    let over: u64 = cx
        .counts()
        .iter()
        .filter(|(n, _, _)| *n == "streams_over_limit")
        .map(|(_, _, n)| n)
        .sum();
    assert!(over >= 5, "{over}");
    assert_eq!(c.stream_count(), 2);
}

#[test]
fn requests_without_codex_events_yield_nothing() {
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: vec![string_kv("event.name", "something.else")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    assert!(build("{}").consume_logs(&req, &mut cx).is_none());
}

#[test]
fn bad_configs_name_their_fields() {
    let errs = serde_json::from_str::<CodexUsageConfig>(
        r#"{"dimensions": ["", "model"], "duration_buckets_ms": [10, 5], "max_streams": 0,
            "dedup": {"window": "0", "max_entries": 0}, "storage": {"directory": " ", "interval": "0"}}"#,
    )
    .expect("parses")
    .build()
    .expect_err("invalid");
    let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "dimensions[0]",
            "dimensions[1]",
            "duration_buckets_ms",
            "max_streams",
            "dedup.window",
            "dedup.max_entries",
            "storage.directory",
            "storage.interval"
        ]
    );
}

#[test]
fn usage_records_from_ingested_session_files_count_as_tokens() {
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: vec![
                        string_kv("event.name", INGESTED_USAGE),
                        string_kv("model", "gpt-5.1-codex"),
                        KeyValue {
                            key: "input_token_count".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::IntValue(2403)),
                            }),
                            ..Default::default()
                        },
                        string_kv("output_token_count", "84"),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = run(&build("{}"), &req);
    assert_eq!(int_total(&out, names::TOKENS, "token_type", "input"), 2403);
    assert_eq!(int_total(&out, names::TOKENS, "token_type", "output"), 84);
}
