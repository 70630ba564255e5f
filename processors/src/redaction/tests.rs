use super::*;
use crate::Metadata;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

const KEY: &str = "0123456789abcdef-test-key";

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(v.into())),
    }
}

fn kv(key: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn kvs(key: &str, v: &str) -> KeyValue {
    kv(key, s(v))
}

fn kvlist(entries: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values: entries })),
    }
}

fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values })),
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    crate::find_attr(attrs, key)
}

fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match get(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// The selector of a built-in detector.
fn det(name: &str) -> Selector {
    match Detector::named(name) {
        Some(d) => Selector::Detector(d),
        None => panic!("no detector {name}"),
    }
}

fn key_rule(key: &str, action: KeyAction) -> KeyRuleConfig {
    KeyRuleConfig {
        key: Some(key.into()),
        pattern: None,
        action,
        replacement: None,
        length: None,
    }
}

fn with_key(mut cfg: RedactionConfig) -> RedactionConfig {
    cfg.hash_key = Some(HashKey::new(KEY));
    cfg
}

fn build(cfg: RedactionConfig) -> RedactionProcessor {
    match cfg.build() {
        Ok(p) => p,
        Err(e) => panic!("valid config: {e:?}"),
    }
}

fn logs(attrs: Vec<KeyValue>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: attrs,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn record(req: &ExportLogsServiceRequest) -> &LogRecord {
    &req.resource_logs[0].scope_logs[0].log_records[0]
}

/// Runs `p` over `req`; returns the audit counts.
fn run_logs(
    p: &RedactionProcessor,
    req: &mut ExportLogsServiceRequest,
) -> Vec<(&'static str, String, u64)> {
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_logs(req, &mut cx);
    cx.counts().to_vec()
}

fn count_of(counts: &[(&'static str, String, u64)], label: &str) -> u64 {
    counts
        .iter()
        .filter(|(n, l, _)| *n == "redactions" && l == label)
        .map(|c| c.2)
        .sum()
}

// ---- key actions ---------------------------------------------------------------------------

#[test]
fn drop_removes_the_attribute_and_matching_nested_kvlist_entries() {
    let p = build(RedactionConfig {
        keys: vec![key_rule("secret_field", KeyAction::Drop)],
        ..Default::default()
    });
    let nested = kvlist(vec![kvs("secret_field", "x"), kvs("ok", "y")]);
    let mut req = logs(vec![
        kvs("secret_field", "x"),
        kvs("other", "kept"),
        kv("nested", nested),
    ]);
    let counts = run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert!(get(attrs, "secret_field").is_none());
    assert_eq!(get_str(attrs, "other"), Some("kept"));
    let Some(Value::KvlistValue(l)) = get(attrs, "nested") else {
        panic!("nested kvlist kept")
    };
    assert_eq!(l.values.len(), 1);
    assert_eq!(l.values[0].key, "ok");
    assert_eq!(count_of(&counts, "key:secret_field"), 2);
}

#[test]
fn mask_replaces_values_of_any_type_and_honours_replacement() {
    let mut custom = key_rule("card", KeyAction::Mask);
    custom.replacement = Some("***".into());
    let p = build(RedactionConfig {
        keys: vec![key_rule("prompt", KeyAction::Mask), custom],
        ..Default::default()
    });
    let mut req = logs(vec![
        kvs("prompt", "the whole prompt"),
        kv(
            "card",
            AnyValue {
                value: Some(Value::IntValue(4111)),
            },
        ),
    ]);
    run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "prompt"), Some("[REDACTED]"));
    assert_eq!(get_str(attrs, "card"), Some("***"));
}

#[test]
fn mask_of_an_already_masked_value_changes_and_counts_nothing() {
    let p = build(RedactionConfig {
        keys: vec![key_rule("prompt", KeyAction::Mask)],
        ..Default::default()
    });
    let mut req = logs(vec![kvs("prompt", "[REDACTED]")]);
    let counts = run_logs(&p, &mut req);
    assert!(counts.is_empty(), "{counts:?}");
}

#[test]
fn hash_is_keyed_prefixed_deterministic_and_joinable() {
    let p = build(with_key(RedactionConfig {
        keys: vec![key_rule("user.email", KeyAction::Hash)],
        ..Default::default()
    }));
    let mut a = logs(vec![kvs("user.email", "jane.doe@acme.test")]);
    let mut b = logs(vec![kvs("user.email", "jane.doe@acme.test")]);
    let mut c = logs(vec![kvs("user.email", "john@acme.test")]);
    for r in [&mut a, &mut b, &mut c] {
        run_logs(&p, r);
    }
    let ha = get_str(&record(&a).attributes, "user.email").expect("hashed");
    let hb = get_str(&record(&b).attributes, "user.email").expect("hashed");
    let hc = get_str(&record(&c).attributes, "user.email").expect("hashed");
    assert!(
        ha.starts_with("hmac-sha256:") && ha.len() == 12 + 64,
        "{ha}"
    );
    assert_eq!(ha, hb, "equal values stay joinable");
    assert_ne!(ha, hc);
    assert!(!p.uses_ephemeral_key());

    // Another key gives another hash: the value cannot be found by hashing guesses.
    let mut other_cfg = RedactionConfig {
        keys: vec![key_rule("user.email", KeyAction::Hash)],
        ..Default::default()
    };
    other_cfg.hash_key = Some(HashKey::new("another-key-of-16-bytes"));
    let other = build(other_cfg);
    let mut d = logs(vec![kvs("user.email", "jane.doe@acme.test")]);
    run_logs(&other, &mut d);
    assert_ne!(get_str(&record(&d).attributes, "user.email"), Some(ha));
}

#[test]
fn hash_without_hash_key_uses_an_ephemeral_key_and_says_so() {
    let p = build(RedactionConfig {
        keys: vec![key_rule("user.account_id", KeyAction::Hash)],
        ..Default::default()
    });
    assert!(p.uses_ephemeral_key());
    let q = build(RedactionConfig {
        keys: vec![key_rule("user.account_id", KeyAction::Hash)],
        ..Default::default()
    });
    let mut a = logs(vec![kvs("user.account_id", "acct-1")]);
    let mut b = logs(vec![kvs("user.account_id", "acct-1")]);
    run_logs(&p, &mut a);
    run_logs(&q, &mut b);
    assert_ne!(
        get_str(&record(&a).attributes, "user.account_id"),
        get_str(&record(&b).attributes, "user.account_id"),
        "each build draws its own key"
    );
    let no_hash = build(RedactionConfig {
        keys: vec![key_rule("prompt", KeyAction::Mask)],
        ..Default::default()
    });
    assert!(!no_hash.uses_ephemeral_key(), "no hash rule, no key");
}

#[test]
fn hash_of_numbers_uses_their_text_and_of_kvlists_their_content() {
    let p = build(with_key(RedactionConfig {
        keys: vec![key_rule("id", KeyAction::Hash)],
        ..Default::default()
    }));
    let int = AnyValue {
        value: Some(Value::IntValue(42)),
    };
    let mut a = logs(vec![kv("id", int)]);
    let mut b = logs(vec![kvs("id", "42")]);
    let mut c = logs(vec![kv("id", kvlist(vec![kvs("a", "1")]))]);
    let mut d = logs(vec![kv("id", kvlist(vec![kvs("a", "2")]))]);
    for r in [&mut a, &mut b, &mut c, &mut d] {
        run_logs(&p, r);
    }
    let h = |r: &ExportLogsServiceRequest| get_str(&record(r).attributes, "id").map(String::from);
    assert_eq!(h(&a), h(&b));
    assert_ne!(h(&c), h(&d));
    assert!(h(&c).is_some_and(|v| v.starts_with(HASH_PREFIX)));
}

#[test]
fn truncate_keeps_n_characters_on_char_boundaries_after_value_rules() {
    let mut t = key_rule("output", KeyAction::Truncate);
    t.length = Some(5);
    let mut t2 = key_rule("arguments", KeyAction::Truncate);
    t2.length = Some(30);
    let p = build(RedactionConfig {
        keys: vec![t, t2],
        detectors: Some(DetectorSelection::List(vec![det("github")])),
        ..Default::default()
    });
    let mut req = logs(vec![
        kvs("output", "héllo wörld"),
        kvs(
            "arguments",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a and more",
        ),
        kvs("short", "abc"),
    ]);
    let counts = run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "output"), Some("héllo"));
    // Value rules ran first: the token is gone, not cut in half.
    assert_eq!(
        get_str(attrs, "arguments"),
        Some("[REDACTED:github] and more")
    );
    assert_eq!(count_of(&counts, "key:output"), 1);
    assert_eq!(count_of(&counts, "key:arguments"), 0, "not longer than 30");
    assert_eq!(count_of(&counts, "github"), 1);
}

#[test]
fn keep_leaves_the_value_alone_even_when_a_detector_would_match() {
    let p = build(RedactionConfig {
        keys: vec![KeyRuleConfig {
            key: None,
            pattern: Some("^safe\\.".into()),
            action: KeyAction::Keep,
            replacement: None,
            length: None,
        }],
        detectors: Some(DetectorSelection::All),
        ..Default::default()
    });
    let mut req = logs(vec![
        kvs("safe.email", "jane.doe@acme.test"),
        kvs("other", "jane.doe@acme.test"),
    ]);
    run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "safe.email"), Some("jane.doe@acme.test"));
    assert_eq!(get_str(attrs, "other"), Some("[REDACTED:email]"));
}

#[test]
fn first_matching_key_rule_wins() {
    let p = build(RedactionConfig {
        keys: vec![
            key_rule("user.email", KeyAction::Keep),
            KeyRuleConfig {
                key: None,
                pattern: Some("^user\\.".into()),
                action: KeyAction::Drop,
                replacement: None,
                length: None,
            },
        ],
        ..Default::default()
    });
    let mut req = logs(vec![
        kvs("user.email", "a@b.test"),
        kvs("user.name", "jane"),
    ]);
    let counts = run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "user.email"), Some("a@b.test"));
    assert!(get(attrs, "user.name").is_none());
    assert_eq!(count_of(&counts, "key_pattern:^user\\."), 1);
}

// ---- allowlist -----------------------------------------------------------------------------

#[test]
fn allowlist_drops_every_unlisted_key_at_every_attribute_level_of_every_signal() {
    let p = build(RedactionConfig {
        mode: Mode::Allowlist,
        allowed_keys: vec!["service.name".into(), "ok".into()],
        ..Default::default()
    });
    let attrs = || {
        vec![
            kvs("service.name", "codex_exec"),
            kvs("ok", "1"),
            kv("gone", kvlist(vec![kvs("inner", "x")])),
        ]
    };
    let resource = || {
        Some(Resource {
            attributes: attrs(),
            ..Default::default()
        })
    };
    let scope = || {
        Some(InstrumentationScope {
            name: "s".into(),
            attributes: attrs(),
            ..Default::default()
        })
    };
    let md = Metadata::default();

    let mut traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![Span {
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
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut traces, &mut cx);
    let rs = &traces.resource_spans[0];
    let sp = &rs.scope_spans[0].spans[0];
    for list in [
        &rs.resource.as_ref().expect("resource").attributes,
        &rs.scope_spans[0].scope.as_ref().expect("scope").attributes,
        &sp.attributes,
        &sp.events[0].attributes,
        &sp.links[0].attributes,
    ] {
        let keys: Vec<&str> = list.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["service.name", "ok"]);
    }
    assert_eq!(count_of(cx.counts(), "allowlist"), 5);

    let mut metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "m".into(),
                    metadata: attrs(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: attrs(),
                            exemplars: vec![Exemplar {
                                filtered_attributes: attrs(),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut cx = ProcessContext::new(&md);
    p.process_metrics(&mut metrics, &mut cx);
    let m = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(Data::Gauge(g)) = &m.data else {
        panic!("gauge")
    };
    for list in [
        &m.metadata,
        &g.data_points[0].attributes,
        &g.data_points[0].exemplars[0].filtered_attributes,
    ] {
        assert_eq!(list.len(), 2);
    }
    assert_eq!(count_of(cx.counts(), "allowlist"), 5);

    let mut l = logs(attrs());
    l.resource_logs[0].resource = resource();
    l.resource_logs[0].scope_logs[0].scope = scope();
    let counts = run_logs(&p, &mut l);
    assert_eq!(record(&l).attributes.len(), 2);
    assert_eq!(count_of(&counts, "allowlist"), 3);
}

#[test]
fn allowlist_keeps_keys_inside_allowed_kvlists_and_bodies_but_still_scans_them() {
    let p = build(RedactionConfig {
        mode: Mode::Allowlist,
        allowed_keys: vec!["ctx".into()],
        detectors: Some(DetectorSelection::List(vec![det("email")])),
        ..Default::default()
    });
    let mut req = logs(vec![kv("ctx", kvlist(vec![kvs("who", "a@b.test")]))]);
    req.resource_logs[0].scope_logs[0].log_records[0].body =
        Some(kvlist(vec![kvs("any_key", "c@d.test")]));
    run_logs(&p, &mut req);
    let rec = record(&req);
    let Some(Value::KvlistValue(l)) = get(&rec.attributes, "ctx") else {
        panic!("ctx kept")
    };
    assert_eq!(get_str(&l.values, "who"), Some("[REDACTED:email]"));
    let Some(Value::KvlistValue(body)) = rec.body.as_ref().and_then(|b| b.value.as_ref()) else {
        panic!("body kept")
    };
    assert_eq!(get_str(&body.values, "any_key"), Some("[REDACTED:email]"));
}

// ---- summary and audit ---------------------------------------------------------------------

#[test]
fn summary_counts_marks_changed_records_only() {
    let p = build(RedactionConfig {
        detectors: Some(DetectorSelection::All),
        keys: vec![key_rule("prompt", KeyAction::Mask)],
        summary: SummaryMode::Counts,
        ..Default::default()
    });
    let mut req = logs(vec![
        kvs("prompt", "hi"),
        kvs("output", "a@b.test and c@d.test"),
    ]);
    req.resource_logs[0].scope_logs[0]
        .log_records
        .push(LogRecord {
            attributes: vec![kvs("output", "nothing here")],
            ..Default::default()
        });
    run_logs(&p, &mut req);
    let recs = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(
        get(&recs[0].attributes, SUMMARY_ATTRIBUTE),
        Some(&Value::IntValue(3))
    );
    assert!(get(&recs[1].attributes, SUMMARY_ATTRIBUTE).is_none());
}

#[test]
fn summary_counts_include_span_events_links_and_status() {
    let p = build(RedactionConfig {
        detectors: Some(DetectorSelection::List(vec![det("email")])),
        summary: SummaryMode::Counts,
        ..Default::default()
    });
    let mut req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "mail a@b.test".into(),
                    status: Some(Status {
                        message: "failed for c@d.test".into(),
                        code: 2,
                    }),
                    events: vec![span::Event {
                        name: "e@f.test".into(),
                        attributes: vec![kvs("x", "g@h.test")],
                        ..Default::default()
                    }],
                    links: vec![span::Link {
                        attributes: vec![kvs("y", "i@j.test")],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    p.process_traces(&mut req, &mut cx);
    let sp = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(sp.name, "mail [REDACTED:email]");
    assert_eq!(
        sp.status.as_ref().map(|s| s.message.as_str()),
        Some("failed for [REDACTED:email]")
    );
    assert_eq!(sp.events[0].name, "[REDACTED:email]");
    assert_eq!(
        get(&sp.attributes, SUMMARY_ATTRIBUTE),
        Some(&Value::IntValue(5))
    );
    assert_eq!(cx.counts(), &[("redactions", "email".to_string(), 5)]);
}

#[test]
fn audit_counters_are_named_after_rules_and_never_carry_the_secret() {
    let p = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        patterns: vec![PatternConfig {
            name: "internal_host".into(),
            regex: r"corp\.acme\.internal".into(),
            action: PatternAction::Mask,
        }],
        keys: vec![key_rule("debug", KeyAction::Drop)],
        ..Default::default()
    }));
    let mut req = logs(vec![
        kvs("prompt", "deploy sk-live-51HqT9xKj2"),
        kvs("user.email", "jane.doe@acme.test"),
        kvs(
            "output",
            "OPENAI_API_KEY=sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5 on db.corp.acme.internal",
        ),
        kvs("debug", "x"),
    ]);
    let counts = run_logs(&p, &mut req);
    let mut labels: Vec<(&str, u64)> = counts.iter().map(|(_, l, n)| (l.as_str(), *n)).collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            ("internal_host", 1),
            ("key:debug", 1),
            ("key:prompt", 1),
            ("key:user.email", 1),
            ("openai", 1),
        ]
    );
    assert!(counts.iter().all(|(name, _, _)| *name == "redactions"));
    assert_eq!(
        get_str(&record(&req).attributes, "output"),
        Some("OPENAI_API_KEY=[REDACTED:openai] on db.[REDACTED:internal_host]")
    );
    assert!(p
        .rule_labels()
        .iter()
        .all(|l| !l.contains("sk-") && !l.contains('@')));
}

#[test]
fn hash_patterns_replace_only_the_match_with_the_same_hash_as_a_hashed_key() {
    let p = build(with_key(RedactionConfig {
        keys: vec![key_rule("user.email", KeyAction::Hash)],
        patterns: vec![PatternConfig {
            name: "mail".into(),
            regex: r"[a-z.]+@acme\.test".into(),
            action: PatternAction::Hash,
        }],
        ..Default::default()
    }));
    let mut req = logs(vec![
        kvs("user.email", "jane.doe@acme.test"),
        kvs("prompt", "tell jane.doe@acme.test now"),
    ]);
    run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    let h = get_str(attrs, "user.email").expect("hashed");
    assert_eq!(
        get_str(attrs, "prompt").map(String::from),
        Some(format!("tell {h} now"))
    );
}

#[test]
fn pattern_with_a_secret_group_replaces_only_that_group() {
    let p = build(RedactionConfig {
        patterns: vec![PatternConfig {
            name: "pin".into(),
            regex: r"pin=(?P<secret>[0-9]{4})".into(),
            action: PatternAction::Mask,
        }],
        ..Default::default()
    });
    assert_eq!(
        p.redact_str("card pin=1234 ok").as_deref(),
        Some("card pin=[REDACTED:pin] ok")
    );
}

// ---- overlaps ------------------------------------------------------------------------------

#[test]
fn overlapping_matches_take_the_earliest_start_then_the_longest_and_remove_their_union() {
    let p = build(RedactionConfig {
        patterns: vec![
            PatternConfig {
                name: "short".into(),
                regex: "abc".into(),
                action: PatternAction::Mask,
            },
            PatternConfig {
                name: "long".into(),
                regex: "abcdef".into(),
                action: PatternAction::Mask,
            },
            PatternConfig {
                name: "later".into(),
                regex: "cdefgh".into(),
                action: PatternAction::Mask,
            },
        ],
        ..Default::default()
    });
    assert_eq!(
        p.redact_str("xx abcdefgh yy").as_deref(),
        Some("xx [REDACTED:long] yy"),
        "`later` overlaps `long`: nothing of it may be left"
    );
}

// ---- hostile nesting -----------------------------------------------------------------------

const DEPTH: usize = 100_000;

/// `DEPTH` levels of alternating arrays and kvlists around `leaf`, built without recursion.
fn deep(leaf: AnyValue) -> AnyValue {
    let mut v = leaf;
    for i in 0..DEPTH {
        v = if i % 2 == 0 {
            array(vec![v])
        } else {
            kvlist(vec![kv("k", v)])
        };
    }
    v
}

/// The innermost value, found without recursion.
fn innermost(mut v: &AnyValue) -> &AnyValue {
    loop {
        match &v.value {
            Some(Value::ArrayValue(a)) if !a.values.is_empty() => v = &a.values[0],
            Some(Value::KvlistValue(l)) if !l.values.is_empty() => match &l.values[0].value {
                Some(inner) => v = inner,
                None => return v,
            },
            _ => return v,
        }
    }
}

#[test]
fn hostile_nesting_of_100000_levels_is_walked_without_stack_overflow() {
    let p = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    }));
    let mut req = logs(vec![kv(
        "deep",
        deep(s("key sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5")),
    )]);
    req.resource_logs[0].scope_logs[0].log_records[0].body =
        Some(deep(s("mail jane.doe@acme.test")));
    let counts = run_logs(&p, &mut req);
    let rec = &mut req.resource_logs[0].scope_logs[0].log_records[0];
    let attr = rec.attributes[0].value.as_ref().expect("value");
    assert_eq!(
        innermost(attr),
        &s("key [REDACTED:openai]"),
        "secret at the bottom is found"
    );
    let body = rec.body.as_ref().expect("body");
    assert_eq!(innermost(body), &s("mail [REDACTED:email]"));
    assert_eq!(count_of(&counts, "openai"), 1);
    assert_eq!(count_of(&counts, "email"), 1);
    drop_deep(rec.body.take());
    drop_deep(rec.attributes.pop().and_then(|kv| kv.value));
}

#[test]
fn hostile_nesting_under_drop_mask_and_hash_keys_is_released_without_stack_overflow() {
    let p = build(with_key(RedactionConfig {
        keys: vec![
            key_rule("a", KeyAction::Drop),
            key_rule("b", KeyAction::Mask),
            key_rule("c", KeyAction::Hash),
        ],
        mode: Mode::Allowlist,
        allowed_keys: vec!["a".into(), "b".into(), "c".into()],
        ..Default::default()
    }));
    let mut req = logs(vec![
        kv("a", deep(s("x"))),
        kv("b", deep(s("x"))),
        kv("c", deep(s("x"))),
        kv("not_allowed", deep(s("x"))),
    ]);
    let counts = run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(attrs.len(), 2);
    assert_eq!(get_str(attrs, "b"), Some("[REDACTED]"));
    assert!(get_str(attrs, "c").is_some_and(|h| h.starts_with(HASH_PREFIX)));
    assert_eq!(count_of(&counts, "allowlist"), 1);
}

// ---- build errors --------------------------------------------------------------------------

fn errors(cfg: RedactionConfig) -> Vec<String> {
    match cfg.build() {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn invalid_regexes_are_reported_with_their_field_path_and_pattern() {
    let errs = errors(RedactionConfig {
        keys: vec![
            key_rule("fine", KeyAction::Mask),
            KeyRuleConfig {
                key: None,
                pattern: Some("[".into()),
                action: KeyAction::Drop,
                replacement: None,
                length: None,
            },
        ],
        patterns: vec![
            PatternConfig {
                name: "a".into(),
                regex: "a".into(),
                action: PatternAction::Mask,
            },
            PatternConfig {
                name: "b".into(),
                regex: "b".into(),
                action: PatternAction::Mask,
            },
            PatternConfig {
                name: "bad".into(),
                regex: "(".into(),
                action: PatternAction::Mask,
            },
        ],
        ..Default::default()
    });
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("patterns[2].regex: invalid regex \"(\": ")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("keys[1].pattern: invalid regex \"[\": ")),
        "{errs:?}"
    );
}

#[test]
fn every_config_mistake_is_reported_at_once() {
    let mut truncate_no_len = key_rule("a", KeyAction::Truncate);
    truncate_no_len.length = None;
    let mut len_on_mask = key_rule("b", KeyAction::Mask);
    len_on_mask.length = Some(3);
    let mut repl_on_drop = key_rule("c", KeyAction::Drop);
    repl_on_drop.replacement = Some("x".into());
    let both = KeyRuleConfig {
        pattern: Some("d".into()),
        ..key_rule("d", KeyAction::Drop)
    };
    let errs = errors(RedactionConfig {
        keys: vec![truncate_no_len, len_on_mask, repl_on_drop, both],
        patterns: vec![
            PatternConfig {
                name: "openai".into(),
                regex: "x".into(),
                action: PatternAction::Mask,
            },
            PatternConfig {
                name: "has space".into(),
                regex: "y".into(),
                action: PatternAction::Mask,
            },
        ],
        detectors: Some(DetectorSelection::List(vec![det("jwt"), det("jwt")])),
        allowed_keys: vec!["x".into()],
        hash_key: Some(HashKey::new("short")),
        ..Default::default()
    });
    let fields: Vec<&str> = errs
        .iter()
        .map(|e| e.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "detectors[1]",
            "patterns[0].name",
            "patterns[1].name",
            "keys[0].length",
            "keys[1].length",
            "keys[2].replacement",
            "keys[3]",
            "allowed_keys",
            "hash_key",
        ],
        "{errs:?}"
    );
    assert!(
        errs.iter().all(|e| !e.contains("short")),
        "the key is never echoed"
    );
}

#[test]
fn a_pattern_matching_the_empty_string_is_refused() {
    let errs = errors(RedactionConfig {
        patterns: vec![PatternConfig {
            name: "oops".into(),
            regex: "x*".into(),
            action: PatternAction::Mask,
        }],
        ..Default::default()
    });
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("patterns[0].regex: regex \"x*\" matches the empty string"));
}

#[test]
fn allowlist_needs_keys() {
    let errs = errors(RedactionConfig {
        mode: Mode::Allowlist,
        ..Default::default()
    });
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("allowed_keys:"));
}

#[test]
fn hash_key_never_shows_in_debug_output() {
    let cfg = with_key(RedactionConfig::default());
    assert!(!format!("{cfg:?}").contains(KEY));
    let p = build(cfg);
    assert!(!format!("{p:?}").contains(KEY));
}

// ---- config parsing ------------------------------------------------------------------------

fn parse(json: &str) -> RedactionConfig {
    match serde_json::from_str(json) {
        Ok(c) => c,
        Err(e) => panic!("{json}: {e}"),
    }
}

#[test]
fn config_parses_all_fields_and_rejects_unknown_ones() {
    let cfg = parse(
        r#"{"preset":"codex","mode":"allowlist","allowed_keys":["a"],
            "keys":[{"key":"prompt","action":"truncate","length":10},
                    {"pattern":"^x","action":"mask","replacement":"--"}],
            "detectors":["openai","credit_card"],
            "patterns":[{"name":"h","regex":"corp","action":"hash"}],
            "hash_key":"0123456789abcdef","summary":"counts"}"#,
    );
    assert_eq!(cfg.preset, Some(Preset::Codex));
    assert_eq!(cfg.mode, Mode::Allowlist);
    assert_eq!(
        cfg.detectors,
        Some(DetectorSelection::List(vec![
            det("openai"),
            det("credit_card")
        ]))
    );
    assert_eq!(cfg.summary, SummaryMode::Counts);
    assert!(cfg.build().is_ok());
    assert_eq!(
        parse(r#"{"detectors":"all"}"#).detectors,
        Some(DetectorSelection::All)
    );
    assert_eq!(
        parse(r#"{"detectors":"none"}"#).detectors,
        Some(DetectorSelection::List(vec![]))
    );
    assert!(serde_json::from_str::<RedactionConfig>(r#"{"detector":"all"}"#).is_err());
    assert!(serde_json::from_str::<RedactionConfig>(r#"{"detectors":["nope"]}"#).is_err());
    assert!(serde_json::from_str::<RedactionConfig>(r#"{"detectors":"some"}"#).is_err());
    assert!(
        serde_json::from_str::<RedactionConfig>(r#"{"keys":[{"key":"a","action":"erase"}]}"#)
            .is_err()
    );
}

#[test]
fn default_config_builds_and_changes_nothing() {
    let p = build(RedactionConfig::default());
    let mut req = logs(vec![kvs("prompt", "sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5")]);
    let before = req.clone();
    assert!(run_logs(&p, &mut req).is_empty());
    assert_eq!(req, before);
}

// ---- preset --------------------------------------------------------------------------------

#[test]
fn codex_preset_masks_prompt_and_response_hashes_user_and_scans_the_rest() {
    let p = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    }));
    let mut req = logs(vec![
        kvs("prompt", "Deploy with my key sk-live-51HqT9xKj2"),
        kv(
            "prompt_length",
            AnyValue {
                value: Some(Value::IntValue(37)),
            },
        ),
        kvs("response", "Sent to ops@acme.test"),
        kvs("user.email", "jane.doe@acme.test"),
        kvs("user.account_id", "acct_123"),
        kvs("error.message", "401 for Bearer abc123def456ghi"),
        kvs(
            "arguments",
            r#"{"cmd":"curl -H 'Authorization: Basic dXNlcjpwYXNz'"}"#,
        ),
    ]);
    run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "prompt"), Some("[REDACTED]"));
    assert_eq!(get(attrs, "prompt_length"), Some(&Value::IntValue(37)));
    assert_eq!(get_str(attrs, "response"), Some("[REDACTED]"));
    assert!(get_str(attrs, "user.email").is_some_and(|h| h.starts_with(HASH_PREFIX)));
    assert!(get_str(attrs, "user.account_id").is_some_and(|h| h.starts_with(HASH_PREFIX)));
    assert_eq!(
        get_str(attrs, "error.message"),
        Some("401 for Bearer [REDACTED:auth_header]")
    );
    assert_eq!(
        get_str(attrs, "arguments"),
        Some(r#"{"cmd":"curl -H 'Authorization: Basic [REDACTED:auth_header]'"}"#)
    );
}

#[test]
fn explicit_key_rules_override_the_preset_for_the_same_key() {
    let mut t = key_rule("prompt", KeyAction::Truncate);
    t.length = Some(6);
    let p = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        keys: vec![t, key_rule("user.email", KeyAction::Keep)],
        ..Default::default()
    }));
    let mut req = logs(vec![
        kvs("prompt", "Deploy with sk-live-51HqT9xKj2"),
        kvs("user.email", "jane.doe@acme.test"),
        kvs("response", "answer"),
    ]);
    run_logs(&p, &mut req);
    let attrs = &record(&req).attributes;
    assert_eq!(get_str(attrs, "prompt"), Some("Deploy"));
    assert_eq!(get_str(attrs, "user.email"), Some("jane.doe@acme.test"));
    assert_eq!(
        get_str(attrs, "response"),
        Some("[REDACTED]"),
        "the rest of the preset stays"
    );
}

#[test]
fn explicit_detectors_replace_the_presets_and_patterns_add_to_it() {
    let p = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        detectors: Some(DetectorSelection::List(vec![det("github")])),
        patterns: vec![PatternConfig {
            name: "ticket".into(),
            regex: "TICKET-[0-9]+".into(),
            action: PatternAction::Mask,
        }],
        ..Default::default()
    }));
    let out = p.redact_str(
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a a@b.test sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5 TICKET-9",
    );
    assert_eq!(
        out.as_deref(),
        Some("[REDACTED:github] a@b.test sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5 [REDACTED:ticket]")
    );
    let none = build(with_key(RedactionConfig {
        preset: Some(Preset::Codex),
        detectors: Some(DetectorSelection::List(vec![])),
        ..Default::default()
    }));
    assert_eq!(none.redact_str("a@b.test"), None);
}

#[test]
fn preset_doc_describes_the_rules_the_preset_builds() {
    for needle in [
        "key: prompt, action: mask",
        "key: response, action: mask",
        "key: user.email, action: hash",
        "key: user.account_id, action: hash",
        "detectors: all",
    ] {
        assert!(CODEX_PRESET_DOC.contains(needle), "{needle}");
    }
    let p = build(RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    });
    let mut labels: Vec<&str> = p.rule_labels().iter().map(String::as_str).collect();
    labels.retain(|l| l.starts_with("key:"));
    assert_eq!(
        labels,
        [
            "key:prompt",
            "key:response",
            "key:user.email",
            "key:user.account_id"
        ]
    );
    assert!(p.uses_ephemeral_key());
}

// ---- detectors -----------------------------------------------------------------------------

#[test]
fn each_detector_catches_its_kind_and_replaces_only_the_secret() {
    let p = build(RedactionConfig {
        detectors: Some(DetectorSelection::All),
        ..Default::default()
    });
    let cases: &[(&str, &str)] = &[
        ("k=sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5", "k=[REDACTED:openai]"),
        ("key sk-live-51HqT9xKj2 here", "key [REDACTED:openai] here"),
        ("sk-ant-api03-abcdefghijklmnop", "[REDACTED:anthropic]"),
        (
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "[REDACTED:github]",
        ),
        (
            "x github_pat_11ABCDEFG0123456789_abcdefghijkl",
            "x [REDACTED:github]",
        ),
        ("id AKIAIOSFODNN7EXAMPLE.", "id [REDACTED:aws]."),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED:aws]",
        ),
        (
            "AIzaSyA1234567890abcdefghijklmnopqrstu",
            "[REDACTED:google_api_key]",
        ),
        ("xoxb-123456789012-abcdefghij", "[REDACTED:slack]"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED:stripe]"),
        (
            "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x",
            "t=[REDACTED:jwt]",
        ),
        (
            "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nb",
            "a\n[REDACTED:private_key]\nb",
        ),
        (
            "cut -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA",
            "cut [REDACTED:private_key]",
        ),
        (
            "Authorization: Bearer abc.def-ghi",
            "Authorization: Bearer [REDACTED:auth_header]",
        ),
        (
            r#"{"authorization": "token 0123456789"}"#,
            r#"{"authorization": "token [REDACTED:auth_header]"}"#,
        ),
        (
            "https://deploy:hunter2@git.acme.test/x.git",
            "https://deploy:[REDACTED:url_password]@git.acme.test/x.git",
        ),
        (
            "password=hunter2 next",
            "password=[REDACTED:assignment] next",
        ),
        (
            "DB_PASSWORD: 'p@ss w0rd'",
            "DB_PASSWORD: '[REDACTED:assignment]'",
        ),
        (
            r#"{"api_key": "abc123"}"#,
            r#"{"api_key": "[REDACTED:assignment]"}"#,
        ),
        (
            r#"echo \"secret=\"x1\"\""#,
            r#"echo \"secret=\"[REDACTED:assignment]\"\""#,
        ),
        ("tell jane.doe@acme.test", "tell [REDACTED:email]"),
        ("card 4111 1111 1111 1111.", "card [REDACTED:credit_card]."),
        ("amex 3782-822463-10005", "amex [REDACTED:credit_card]"),
    ];
    for (input, want) in cases {
        assert_eq!(p.redact_str(input).as_deref(), Some(*want), "{input}");
    }
}

#[test]
fn openai_detector_leaves_anthropic_keys_to_the_anthropic_detector() {
    let p = build(RedactionConfig {
        detectors: Some(DetectorSelection::List(vec![det("openai")])),
        ..Default::default()
    });
    assert_eq!(p.redact_str("sk-ant-api03-abcdefghijklmnop"), None);
    assert!(p.redact_str("sk-proj-abcdefghijklmnop").is_some());
}

#[test]
fn two_secrets_in_a_row_are_both_caught() {
    let p = build(RedactionConfig {
        detectors: Some(DetectorSelection::All),
        ..Default::default()
    });
    assert_eq!(
        p.redact_str("sk-aaaaaaaaaaaa,sk-bbbbbbbbbbbb AKIAIOSFODNN7EXAMPLE,AKIAIOSFODNN7EXAMPLF")
            .as_deref(),
        Some("[REDACTED:openai],[REDACTED:openai] [REDACTED:aws],[REDACTED:aws]")
    );
}

#[test]
fn strings_without_matches_are_not_rewritten() {
    let p = build(RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    });
    let mut req = logs(vec![kvs("output", "all good"), kvs("prompt", "[REDACTED]")]);
    let before = req.clone();
    let counts = run_logs(&p, &mut req);
    assert!(counts.is_empty());
    assert_eq!(req, before);
}

#[test]
fn an_empty_hash_key_is_no_key_and_still_hashes_under_a_per_process_key() {
    let p = build(RedactionConfig {
        preset: Some(Preset::Codex),
        hash_key: Some(HashKey::new("")),
        ..Default::default()
    });
    assert!(p.uses_ephemeral_key());
    let mut d = logs(vec![kvs("user.email", "jane@acme.test")]);
    run_logs(&p, &mut d);
    let v = get_str(&record(&d).attributes, "user.email").expect("kept, hashed");
    assert!(v.starts_with("hmac-sha256:") && v.len() == 76, "{v}");
}

#[test]
fn a_value_hashed_upstream_is_not_hashed_again() {
    let p = build(RedactionConfig {
        preset: Some(Preset::Codex),
        hash_key: Some(HashKey::new(KEY)),
        ..Default::default()
    });
    let mut once = logs(vec![kvs("user.email", "jane@acme.test")]);
    run_logs(&p, &mut once);
    let first = get_str(&record(&once).attributes, "user.email").map(str::to_string);
    run_logs(&p, &mut once);
    assert_eq!(
        get_str(&record(&once).attributes, "user.email").map(str::to_string),
        first
    );
    // Something that only looks like it (not 64 hex digits) is hashed.
    let mut fake = logs(vec![kvs("user.email", "hmac-sha256:jane@acme.test")]);
    run_logs(&p, &mut fake);
    let v = get_str(&record(&fake).attributes, "user.email").expect("hashed");
    assert!(!v.contains("jane"), "{v}");
}
