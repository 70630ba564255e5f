use super::*;
use crate::{find_attr, Metadata, OtlpRequest};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Gauge, ResourceMetrics, ScopeMetrics, Sum};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn config(json: &str) -> FilterConfig {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn build(json: &str) -> FilterProcessor {
    config(json).build().expect("valid config")
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn counts(cx: &ProcessContext<'_>, name: &str) -> Vec<(String, u64)> {
    cx.counts()
        .iter()
        .filter(|(n, _, _)| *n == name)
        .map(|(_, l, n)| (l.clone(), *n))
        .collect()
}

fn span_names(req: &ExportTraceServiceRequest) -> Vec<&str> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect()
}

fn one_span(sp: Span) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![sp],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn fixture_spans_are_dropped_by_exact_name_and_regex_and_counted() {
    let mut req = ExportTraceServiceRequest::decode(
        fixture("tool-secrets-protobuf/001_traces.pb").as_slice(),
    )
    .expect("decode");
    let before: Vec<String> = span_names(&req).into_iter().map(String::from).collect();
    let n_meta = before.iter().filter(|n| **n == "fs.get_metadata").count() as u64;
    let n_fs = before.iter().filter(|n| n.starts_with("fs.")).count() as u64;
    assert!(n_meta > 0 && n_fs > n_meta);
    let p =
        build(r#"{"traces": {"span": [{"name": "fs.get_metadata"}, {"name_regex": "^fs\\."}]}}"#);
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut req, &mut cx);
    let after = span_names(&req);
    assert_eq!(after.len() as u64, before.len() as u64 - n_fs);
    assert!(after.iter().all(|n| !n.starts_with("fs.")));
    assert_eq!(cx.dropped(), n_fs);
    assert_eq!(
        counts(&cx, "filter_dropped"),
        [
            ("traces.span[0]".to_string(), n_meta),
            ("traces.span[1]".to_string(), n_fs - n_meta)
        ]
    );
}

#[test]
fn every_part_of_a_condition_must_match_and_values_compare_as_text() {
    let p = build(
        r#"{"traces": {"span": [
            {"name": "exec_command", "attributes": {"call_id": "call_2", "aborted": false}},
            {"name_regex": "^unified_exec\\.", "attributes": {"status": 200}},
            {"attributes": {"tool_name": {"regex": "^apply_"}}}]}}"#,
    );
    let span = |name: &str, attrs: Vec<KeyValue>| Span {
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    };
    let cases = [
        (
            span(
                "exec_command",
                vec![
                    kv("call_id", s("call_2")),
                    kv("aborted", Value::BoolValue(false)),
                ],
            ),
            true,
        ),
        (
            span("exec_command", vec![kv("call_id", s("call_2"))]),
            false,
        ),
        (
            span(
                "exec_command",
                vec![
                    kv("call_id", s("call_1")),
                    kv("aborted", Value::BoolValue(false)),
                ],
            ),
            false,
        ),
        (
            span("unified_exec.open_session", vec![kv("status", s("200"))]),
            true,
        ),
        (
            span(
                "unified_exec.open_session",
                vec![kv("status", Value::IntValue(200))],
            ),
            true,
        ),
        (
            span(
                "unified_exec.open_session",
                vec![kv("status", Value::IntValue(500))],
            ),
            false,
        ),
        (
            span("anything", vec![kv("tool_name", s("apply_patch"))]),
            true,
        ),
        (
            span(
                "anything",
                vec![kv("tool_name", Value::ArrayValue(Default::default()))],
            ),
            false,
        ),
        (span("anything", vec![]), false),
    ];
    for (sp, dropped) in cases {
        let desc = format!("{sp:?}");
        let mut req = one_span(sp);
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_traces(&mut req, &mut cx);
        assert_eq!(req.item_count() == 0, dropped, "{desc}");
        assert_eq!(cx.dropped(), u64::from(dropped), "{desc}");
    }
}

#[test]
fn the_first_matching_condition_gets_the_count_even_when_exact_names_are_hashed() {
    let p = build(
        r#"{"traces": {"span": [{"name_regex": "^a"}, {"name": "abc"}, {"name": "xyz"},
                                {"name_regex": "z$"}]}}"#,
    );
    let mut req = one_span(Span {
        name: "abc".into(),
        ..Default::default()
    });
    req.resource_spans[0].scope_spans[0].spans.push(Span {
        name: "xyz".into(),
        ..Default::default()
    });
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut req, &mut cx);
    assert_eq!(
        counts(&cx, "filter_dropped"),
        [
            ("traces.span[0]".to_string(), 1),
            ("traces.span[2]".to_string(), 1)
        ]
    );
}

#[test]
fn span_events_are_removed_but_are_not_pipeline_drops() {
    let p = build(
        r#"{"traces": {"span_event": [{"name": "exception", "attributes": {"level": "debug"}}]}}"#,
    );
    let event = |level: &str| span::Event {
        name: "exception".into(),
        attributes: vec![kv("level", s(level))],
        ..Default::default()
    };
    let mut req = one_span(Span {
        name: "x".into(),
        events: vec![event("debug"), event("error"), event("debug")],
        ..Default::default()
    });
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut req, &mut cx);
    assert_eq!(
        req.resource_spans[0].scope_spans[0].spans[0].events.len(),
        1
    );
    assert_eq!(cx.dropped(), 0);
    assert_eq!(
        counts(&cx, "filter_dropped"),
        [("traces.span_event[0]".to_string(), 2)]
    );
}

#[test]
fn fixture_log_records_match_on_the_event_name_attribute_or_field() {
    let body = fixture("failing-tool-loop-protobuf/005_logs.pb");
    let original = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
    let records = |r: &ExportLogsServiceRequest| -> Vec<LogRecord> {
        r.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.clone())
            .collect()
    };
    let is_sse_noise = |lr: &LogRecord| {
        find_attr(&lr.attributes, "event.name") == Some(&s("codex.sse_event"))
            && matches!(find_attr(&lr.attributes, "event.kind"),
                        Some(Value::StringValue(k)) if k != "response.completed")
    };
    let noise = records(&original)
        .iter()
        .filter(|lr| is_sse_noise(lr))
        .count() as u64;
    assert!(noise > 10, "{noise}");
    let p = build(
        r#"{"logs": {"log_record": [
            {"name": "codex.sse_event", "attributes": {"event.kind": {"regex": "^response\\.(created|output_item|output_text|in_progress)"}}},
            {"name": "event otel/src/metrics/client.rs:324"}]}}"#,
    );
    let mut req = original.clone();
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_logs(&mut req, &mut cx);
    let left = records(&req);
    assert!(left.iter().all(|lr| !is_sse_noise(lr)));
    assert!(left
        .iter()
        .all(|lr| lr.event_name != "event otel/src/metrics/client.rs:324"));
    assert_eq!(cx.dropped(), (records(&original).len() - left.len()) as u64);
    assert_eq!(
        counts(&cx, "filter_dropped")[0],
        ("logs.log_record[0]".to_string(), noise)
    );
    // After the `codex` processor copied the name into the field, the same config still matches.
    let mut normalised = original.clone();
    crate::codex::CodexConfig {
        event_name: crate::codex::EventNameConfig {
            keep_attribute: false,
            ..Default::default()
        },
        ..Default::default()
    }
    .build()
    .expect("codex")
    .process_logs(&mut normalised, &mut ProcessContext::new(&md));
    let mut cx = ProcessContext::new(&md);
    p.process_logs(&mut normalised, &mut cx);
    assert_eq!(records(&normalised).len(), left.len());
}

#[test]
fn fixture_metrics_drop_whole_metrics_and_single_points() {
    let body = fixture("tool-secrets-protobuf/003_metrics.pb");
    let original = ExportMetricsServiceRequest::decode(body.as_slice()).expect("decode");
    let metrics = |r: &ExportMetricsServiceRequest| -> Vec<Metric> {
        r.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| s.metrics.clone())
            .collect()
    };
    let skills: u64 = metrics(&original)
        .iter()
        .filter(|m| m.name.starts_with("codex.skills."))
        .map(|m| crate::metric_point_count(m) as u64)
        .sum();
    assert!(skills > 0);
    let p = build(
        r#"{"metrics": {"metric": [{"name_regex": "^codex\\.skills\\."}],
                        "datapoint": [{"name_regex": "^codex\\.turn\\.token_usage$",
                                       "attributes": {"token_type": "cached_input"}}]}}"#,
    );
    let mut req = original.clone();
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_metrics(&mut req, &mut cx);
    let left = metrics(&req);
    assert!(left.iter().all(|m| !m.name.starts_with("codex.skills.")));
    let dropped = (original.item_count() - req.item_count()) as u64;
    assert_eq!(cx.dropped(), dropped);
    let by_label = counts(&cx, "filter_dropped");
    assert_eq!(by_label[0], ("metrics.metric[0]".to_string(), skills));
    assert!(
        dropped > skills,
        "token_usage points of type cached_input: {by_label:?}"
    );
    for m in left.iter().filter(|m| m.name == "codex.turn.token_usage") {
        if let Some(Data::Histogram(h)) = &m.data {
            for pt in &h.data_points {
                assert_ne!(
                    find_attr(&pt.attributes, "token_type"),
                    Some(&s("cached_input"))
                );
            }
        }
    }
}

#[test]
fn a_metric_emptied_by_datapoint_conditions_is_removed() {
    let point = |v: &str| NumberDataPoint {
        attributes: vec![kv("k", s(v))],
        ..Default::default()
    };
    let mut req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "a".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![point("x"), point("x")],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "b".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point("x"), point("y")],
                            ..Default::default()
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let p = build(r#"{"metrics": {"datapoint": [{"attributes": {"k": "x"}}]}}"#);
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_metrics(&mut req, &mut cx);
    let names: Vec<&str> = req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["b"]);
    assert_eq!(cx.dropped(), 3);
    assert_eq!(req.item_count(), 1);
}

#[test]
fn drop_attributes_reaches_every_attribute_list_and_counts_per_rule() {
    let p = build(
        r#"{"drop_attributes": {"keys": ["busy_ns", "idle_ns"], "patterns": ["^code\\.", "^thread\\.", "busy"]}}"#,
    );
    let mut traces =
        ExportTraceServiceRequest::decode(fixture("api-retries-protobuf/001_traces.pb").as_slice())
            .expect("decode");
    let spans = traces.item_count() as u64;
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut traces, &mut cx);
    assert_eq!(cx.dropped(), 0);
    assert_eq!(traces.item_count() as u64, spans);
    for sp in traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        for kv in &sp.attributes {
            assert!(
                !(kv.key.starts_with("code.")
                    || kv.key.starts_with("thread.")
                    || kv.key.ends_with("_ns")),
                "{}",
                kv.key
            );
        }
    }
    let c = counts(&cx, "attributes_dropped");
    let get = |l: &str| c.iter().find(|(x, _)| x == l).map(|(_, n)| *n).unwrap_or(0);
    assert!(
        get("busy_ns") > 0 && get("idle_ns") > 0 && get("^code\\.") > 0,
        "{c:?}"
    );
    assert!(
        get("^thread\\.") > get("busy_ns"),
        "thread.id twice + thread.name: {c:?}"
    );
    assert_eq!(
        get("busy"),
        0,
        "an exact key wins over a later pattern: {c:?}"
    );

    // Every other list: resource, scope, log record, metric metadata, points, exemplars, links, events.
    let attrs = || vec![kv("code.x", s("1")), kv("keep", s("1"))];
    let mut logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: attrs(),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    attributes: attrs(),
                    ..Default::default()
                }),
                log_records: vec![LogRecord {
                    attributes: attrs(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut cx = ProcessContext::new(&md);
    p.process_logs(&mut logs, &mut cx);
    assert_eq!(
        counts(&cx, "attributes_dropped"),
        [("^code\\.".to_string(), 3)]
    );
    let mut metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    metadata: attrs(),
                    data: Some(Data::Histogram(
                        opentelemetry_proto::tonic::metrics::v1::Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: attrs(),
                                exemplars: vec![Exemplar {
                                    filtered_attributes: attrs(),
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut cx = ProcessContext::new(&md);
    p.process_metrics(&mut metrics, &mut cx);
    assert_eq!(
        counts(&cx, "attributes_dropped"),
        [("^code\\.".to_string(), 3)]
    );
    let mut traces = one_span(Span {
        attributes: attrs(),
        events: vec![span::Event {
            attributes: attrs(),
            ..Default::default()
        }],
        links: vec![span::Link {
            attributes: attrs(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut traces, &mut cx);
    assert_eq!(
        counts(&cx, "attributes_dropped"),
        [("^code\\.".to_string(), 3)]
    );
    let sp = &traces.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(sp.attributes.len(), 1);
    assert_eq!(sp.events[0].attributes.len(), 1);
    assert_eq!(sp.links[0].attributes.len(), 1);
}

#[test]
fn empty_config_changes_nothing() {
    let p = FilterConfig::default().build().expect("empty builds");
    let body = fixture("tool-secrets-protobuf/002_traces.pb");
    let original = ExportTraceServiceRequest::decode(body.as_slice()).expect("decode");
    let mut req = original.clone();
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut req, &mut cx);
    assert_eq!(req, original);
    assert!(cx.counts().is_empty());
}

#[test]
fn invalid_config_reports_every_problem_with_its_field_path() {
    let errs = config(
        r#"{"traces": {"span": [{"name": "ok"}, {}, {"name": "a", "name_regex": "b"}],
                       "span_event": [{"name_regex": "("}]},
            "logs": {"log_record": [{"attributes": {"k": {"regex": "["}, "j": {}, "i": {"value": 1, "regex": "x"}}}]},
            "metrics": {"metric": [{"name": "m", "attributes": {"a": 1}}],
                        "datapoint": [{"attributes": {"a": {"regex": "ok"}}}]},
            "drop_attributes": {"keys": ["x", ""], "patterns": ["ok", "(("]}}"#,
    )
    .build()
    .expect_err("invalid");
    let got: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        got,
        [
            "traces.span[1]",
            "traces.span[2]",
            "traces.span_event[0].name_regex",
            "logs.log_record[0].attributes.i",
            "logs.log_record[0].attributes.j",
            "logs.log_record[0].attributes.k.regex",
            "metrics.metric[0].attributes",
            "drop_attributes.keys[1]",
            "drop_attributes.patterns[1]",
        ]
    );
}

#[test]
fn config_shape_is_strict_and_attribute_values_take_two_forms() {
    assert_eq!(config("{}"), FilterConfig::default());
    let c = config(
        r#"{"traces": {"span": [{"attributes": {"a": 1, "b": "x", "c": true, "d": 1.5, "e": {"regex": "^y"}}}]}}"#,
    );
    let attrs = &c.traces.span[0].attributes;
    assert_eq!(attrs["a"].value, Some(ConfigValue::Int(1)));
    assert_eq!(attrs["b"].value, Some(ConfigValue::String("x".into())));
    assert_eq!(attrs["c"].value, Some(ConfigValue::Bool(true)));
    assert_eq!(attrs["d"].value, Some(ConfigValue::Double(1.5)));
    assert_eq!(attrs["e"].regex.as_deref(), Some("^y"));
    for bad in [
        r#"{"trace": {}}"#,
        r#"{"traces": {"spans": []}}"#,
        r#"{"traces": {"span": [{"name": "a", "attrs": {}}]}}"#,
        r#"{"traces": {"span": [{"attributes": {"a": {"regexp": "x"}}}]}}"#,
        r#"{"traces": {"span": [{"attributes": {"a": [1]}}]}}"#,
        r#"{"drop_attributes": {"key": []}}"#,
    ] {
        assert!(serde_json::from_str::<FilterConfig>(bad).is_err(), "{bad}");
    }
}
