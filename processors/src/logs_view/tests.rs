//! The view path must be the decoded path: the same request read, the same bytes written, the
//! same processing and counts, on every fixture and on generated and mutated requests.

use super::*;
use crate::attributes::ResourceConfig;
use crate::codex::CodexConfig;
use crate::redaction::RedactionConfig;
use crate::team::TeamConfig;
use crate::Component;
use crate::{Metadata, ProcessContext, Processor};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use proptest::prelude::*;

const LIMITS: ViewLimits = ViewLimits {
    max_attributes: 1000,
    max_string: 64 * 1024,
    max_depth: 32,
    max_items: 100_000,
};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = format!("{}/../tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("fixtures dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().ends_with("logs.pb") {
                out.push((p.display().to_string(), std::fs::read(&p).expect("fixture")));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 10, "logs fixtures found: {}", out.len());
    out
}

/// The processors compared, built once (building compiles the detectors' regexes).
fn processors() -> &'static [(&'static str, Box<dyn Processor>)] {
    static BUILT: std::sync::OnceLock<Vec<(&'static str, Box<dyn Processor>)>> =
        std::sync::OnceLock::new();
    BUILT.get_or_init(build_processors)
}

fn build_processors() -> Vec<(&'static str, Box<dyn Processor>)> {
    let redaction = |json: &str| -> Box<dyn Processor> {
        let cfg: RedactionConfig = serde_json::from_str(json).expect("redaction config");
        Box::new(cfg.build().expect("redaction builds"))
    };
    let codex = |json: &str| -> Box<dyn Processor> {
        let cfg: CodexConfig = serde_json::from_str(json).expect("codex config");
        Box::new(cfg.build().expect("codex builds"))
    };
    let team: TeamConfig = serde_json::from_str(
        r#"{"rules": [{"name": "header",
                       "match": {"metadata": {"key": "x-codex-team", "regex": "^(?P<team>[a-z]+)$"}},
                       "set": {"team": "${team}"}}],
            "default": {"team": "unknown", "project": "payments"}}"#,
    )
    .expect("team config");
    let resource: ResourceConfig = serde_json::from_str(
        r#"{"attributes": [{"key": "team", "value": "payments", "action": "upsert"},
                           {"key": "service.version", "action": "delete"},
                           {"key": "project", "from_attribute": "service.name", "action": "insert"}]}"#,
    )
    .expect("resource config");
    vec![
        ("codex", codex("{}")),
        (
            "codex/first,no-attribute",
            codex(
                r#"{"dedupe_attributes": {"keep": "first"}, "event_name": {"keep_attribute": false}}"#,
            ),
        ),
        (
            "redaction/codex",
            redaction(r#"{"preset": "codex", "hash_key": "0123456789abcdef0123"}"#),
        ),
        (
            "redaction/keys",
            redaction(
                r#"{"preset": "codex", "hash_key": "0123456789abcdef0123", "summary": "counts",
                    "keys": [{"key": "prompt", "action": "truncate", "length": 10},
                             {"key": "conversation.id", "action": "hash"},
                             {"key": "model", "action": "drop"},
                             {"pattern": "^auth", "action": "mask", "replacement": "--"}]}"#,
            ),
        ),
        (
            "redaction/allowlist",
            redaction(
                r#"{"mode": "allowlist", "allowed_keys": ["event.name", "event.timestamp", "k0", "k1"],
                    "hash_key": "0123456789abcdef0123"}"#,
            ),
        ),
        ("team", Box::new(team.build().expect("team builds"))),
        (
            "resource",
            Box::new(ArcProcessor(
                resource.build_processor().expect("resource builds"),
            )),
        ),
    ]
}

/// A built processor behind an `Arc`, as the gateway holds it.
struct ArcProcessor(std::sync::Arc<dyn Processor>);

impl Processor for ArcProcessor {
    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        self.0.process_logs(req, cx)
    }
    fn handles_log_views(&self) -> bool {
        self.0.handles_log_views()
    }
    fn process_log_views(&self, logs: &mut LogsView<'_>, cx: &mut ProcessContext<'_>) {
        self.0.process_log_views(logs, cx)
    }
}

/// Runs `p` on the decoded request and on the view of `body`; both must write the same bytes
/// and count the same things.
fn same_processing(what: &str, p: &dyn Processor, body: &[u8]) {
    let md = Metadata::from_pairs([("x-codex-team", "payments")]);
    let mut decoded = ExportLogsServiceRequest::decode(body).expect("decodes");
    let mut cx = ProcessContext::new(&md);
    p.process_logs(&mut decoded, &mut cx);
    let Some(mut view) = LogsView::parse(body, &LIMITS) else {
        panic!("{what}: not viewed");
    };
    let mut vcx = ProcessContext::new(&md);
    assert!(p.handles_log_views(), "{what}");
    p.process_log_views(&mut view, &mut vcx);
    assert_eq!(view.to_request(), decoded, "{what}: processed differently");
    assert_eq!(
        view.encode_to_vec(),
        decoded.encode_to_vec(),
        "{what}: encoded differently"
    );
    assert_eq!(vcx.counts(), cx.counts(), "{what}: counted differently");
}

#[test]
fn every_fixture_reads_and_writes_as_prost_decodes_and_encodes_it() {
    for (name, body) in fixtures() {
        let decoded = ExportLogsServiceRequest::decode(body.as_slice()).expect("fixture decodes");
        let view = LogsView::parse(&body, &LIMITS).unwrap_or_else(|| panic!("{name}: not viewed"));
        assert_eq!(view.to_request(), decoded, "{name}");
        assert_eq!(
            view.item_count(),
            decoded
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>()
        );
        // The fixtures are prost's own encoding, byte for byte.
        assert_eq!(view.encode_to_vec(), decoded.encode_to_vec(), "{name}");
    }
}

#[test]
fn every_view_processor_does_on_fixtures_what_it_does_decoded() {
    let procs = processors();
    for (name, body) in fixtures() {
        for (p, proc_) in procs {
            same_processing(&format!("{name} {p}"), proc_.as_ref(), &body);
        }
    }
}

#[test]
fn the_codex_chain_on_a_view_changes_the_fixtures_as_decoded() {
    // The chain of the shipped configs, one processor after another on one view.
    let procs = processors();
    let chain: Vec<&dyn Processor> = ["codex", "redaction/codex", "team"]
        .iter()
        .map(|n| {
            procs
                .iter()
                .find(|(p, _)| p == n)
                .expect("listed")
                .1
                .as_ref()
        })
        .collect();
    let md = Metadata::from_pairs([("x-codex-team", "payments")]);
    let mut changed = 0;
    for (name, body) in fixtures() {
        let mut decoded = ExportLogsServiceRequest::decode(body.as_slice()).expect("decodes");
        let mut view = LogsView::parse(&body, &LIMITS).expect("viewed");
        for p in &chain {
            p.process_logs(&mut decoded, &mut ProcessContext::new(&md));
            p.process_log_views(&mut view, &mut ProcessContext::new(&md));
        }
        let out = view.encode_to_vec();
        assert_eq!(out, decoded.encode_to_vec(), "{name}");
        changed += usize::from(out != body);
    }
    assert!(changed >= 10, "the chain changed {changed} fixtures");
}

fn with_field(body: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.extend_from_slice(extra);
    b
}

/// One request with one record, encoded, after `edit`.
fn one_record(edit: impl FnOnce(&mut LogRecord)) -> Vec<u8> {
    let mut r = LogRecord {
        observed_time_unix_nano: 7,
        body: Some(AnyValue {
            value: Some(Value::StringValue("hello".into())),
        }),
        attributes: vec![KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("v".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    edit(&mut r);
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![r],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[test]
fn requests_the_view_does_not_read_exactly_are_left_to_the_decoder() {
    let ok = one_record(|_| {});
    assert!(LogsView::parse(&ok, &LIMITS).is_some());
    // Ids of a wrong length, refused by the decoded path.
    assert!(LogsView::parse(&one_record(|r| r.trace_id = vec![1; 15]), &LIMITS).is_none());
    assert!(LogsView::parse(&one_record(|r| r.span_id = vec![1; 9]), &LIMITS).is_none());
    // What the receiver limits would change.
    let long = one_record(|r| {
        r.body = Some(AnyValue {
            value: Some(Value::StringValue("x".repeat(65 * 1024))),
        })
    });
    assert!(LogsView::parse(&long, &LIMITS).is_none());
    let many = one_record(|r| r.attributes = vec![r.attributes[0].clone(); 1001]);
    assert!(LogsView::parse(&many, &LIMITS).is_none());
    assert!(LogsView::parse(
        &one_record(|r| r.attributes = vec![r.attributes[0].clone(); 1000]),
        &LIMITS
    )
    .is_some());
    let mut deep = AnyValue {
        value: Some(Value::IntValue(1)),
    };
    for _ in 0..MAX_VIEW_DEPTH + 1 {
        deep = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue { values: vec![deep] })),
        };
    }
    assert!(LogsView::parse(&one_record(|r| r.body = Some(deep)), &LIMITS).is_none());
    // No record at all, and empty scopes (pruned by the decoded path).
    assert!(LogsView::parse(&[], &LIMITS).is_none());
    let empty_scope = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs::default()],
            ..Default::default()
        }],
    };
    assert!(LogsView::parse(&empty_scope.encode_to_vec(), &LIMITS).is_none());
    // A second body would be merged by prost; a truncated body or bad UTF-8 does not decode.
    assert!(LogsView::parse(&ok[..ok.len() - 1], &LIMITS).is_none());
    let bad_utf8 = one_record(|r| r.severity_text = "\u{e9}".into());
    let mut bad = bad_utf8.clone();
    let at = bad
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .expect("found");
    bad[at] = 0xff;
    assert!(ExportLogsServiceRequest::decode(bad.as_slice()).is_err());
    assert!(LogsView::parse(&bad, &LIMITS).is_none());
    // Too many records for max_items_per_request.
    let few = ViewLimits {
        max_items: 0,
        ..LIMITS
    };
    assert!(LogsView::parse(&ok, &few).is_none());
}

#[test]
fn unknown_fields_are_skipped_as_prost_skips_them() {
    // Field 99 (varint) and field 100 (bytes) at the request level, as a newer client may send.
    let body = with_field(
        &one_record(|_| {}),
        &[0x98, 0x06, 0x01, 0xa2, 0x06, 0x02, b'h', b'i'],
    );
    let decoded = ExportLogsServiceRequest::decode(body.as_slice()).expect("decodes");
    let view = LogsView::parse(&body, &LIMITS).expect("viewed");
    assert_eq!(view.to_request(), decoded);
    assert_eq!(view.encode_to_vec(), decoded.encode_to_vec());
    // Groups are not read.
    assert!(LogsView::parse(
        &with_field(&one_record(|_| {}), &[0x9b, 0x06, 0x9c, 0x06]),
        &LIMITS
    )
    .is_none());
}

// ---- generated requests -------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z._]{1,12}",
        Just("true".to_string()),
        Just("42".to_string()),
        Just("2026-11-21T04:48:07.441Z".to_string()),
        Just("key sk-proj-Ab3dEf5hIj7kLm9nOp1rSt3vWx5zAb7dEf9hIj1k and more".to_string()),
        Just("mail jane.doe@example.com or +1 415 555 0132".to_string()),
        "\\PC{0,40}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("event.timestamp".to_string()),
        Just("event.name".to_string()),
        Just("duration_ms".to_string()),
        Just("success".to_string()),
        Just("prompt".to_string()),
        Just("conversation.id".to_string()),
        Just("model".to_string()),
        Just("authorization".to_string()),
        Just("k0".to_string()),
        Just("k1".to_string()),
        Just(String::new()),
        "[a-z_.]{1,10}",
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let scalar = prop_oneof![
        text().prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        (-1.0e12..1.0e12f64).prop_map(Value::DoubleValue),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::BytesValue),
        any::<i32>().prop_map(Value::StringValueStrindex),
    ];
    let leaf = proptest::option::weighted(0.95, scalar).prop_map(|value| AnyValue { value });
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|values| Value::ArrayValue(ArrayValue { values })),
            proptest::collection::vec((key(), proptest::option::of(inner)), 0..4).prop_map(|kvs| {
                Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value,
                            key_strindex: 0,
                        })
                        .collect(),
                })
            }),
        ]
        .prop_map(|v| AnyValue { value: Some(v) })
    })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        (
            key(),
            proptest::option::weighted(0.9, any_value()),
            prop_oneof![9 => Just(0), 1 => any::<i32>()],
        ),
        0..8,
    )
    .prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            })
            .collect()
    })
}

fn record() -> impl Strategy<Value = LogRecord> {
    (
        (
            prop_oneof![Just(0u64), any::<u64>()],
            prop_oneof![Just(0u64), any::<u64>()],
        ),
        (
            any::<i32>(),
            text(),
            proptest::option::of(any_value()),
            attributes(),
        ),
        (
            prop_oneof![Just(0u32), any::<u32>()],
            prop_oneof![Just(0u32), any::<u32>()],
        ),
        (
            prop_oneof![Just(vec![]), Just(vec![7u8; 16])],
            prop_oneof![Just(vec![]), Just(vec![9u8; 8])],
        ),
        text(),
    )
        .prop_map(
            |(
                (t, o),
                (sev, sevtext, body, attributes),
                (dropped, flags),
                (tid, sid),
                event_name,
            )| LogRecord {
                time_unix_nano: t,
                observed_time_unix_nano: o,
                severity_number: sev,
                severity_text: sevtext,
                body,
                attributes,
                dropped_attributes_count: dropped,
                flags,
                trace_id: tid,
                span_id: sid,
                event_name,
            },
        )
}

fn request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope = (
        proptest::option::of((text(), text(), attributes(), any::<u32>())),
        proptest::collection::vec(record(), 1..4),
        text(),
    )
        .prop_map(|(scope, log_records, schema_url)| ScopeLogs {
            scope: scope.map(
                |(name, version, attributes, dropped)| InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count: dropped,
                },
            ),
            log_records,
            schema_url,
        });
    let resource = (
        proptest::option::of(attributes()),
        proptest::collection::vec(scope, 1..3),
        text(),
    )
        .prop_map(|(attrs, scope_logs, schema_url)| ResourceLogs {
            resource: attrs.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_logs,
            schema_url,
        });
    proptest::collection::vec(resource, 1..3)
        .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn generated_requests_read_write_and_process_as_decoded(req in request()) {
        let body = req.encode_to_vec();
        let view = LogsView::parse(&body, &LIMITS);
        prop_assert!(view.is_some(), "a clean request was not viewed");
        let view = view.expect("viewed");
        prop_assert_eq!(&view.to_request(), &req);
        prop_assert_eq!(view.encode_to_vec(), body.clone());
        for (name, p) in processors() {
            same_processing(name, p.as_ref(), &body);
        }
    }

    #[test]
    fn mutated_fixture_bytes_never_panic_and_read_only_as_prost_reads_them(
        which in 0usize..13,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let all = fixtures();
        let (_, body) = &all[which % all.len()];
        let mut body = body.clone();
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        body.truncate(cut.index(body.len() + 1).max(1));
        if let Some(view) = LogsView::parse(&body, &LIMITS) {
            let decoded = ExportLogsServiceRequest::decode(body.as_slice());
            prop_assert!(decoded.is_ok(), "viewed but prost refuses it");
            let decoded = decoded.expect("decodes");
            // Compared as bytes: a mutated double may be NaN, unequal to itself.
            prop_assert_eq!(view.encode_to_vec(), decoded.encode_to_vec());
        }
    }
}

#[test]
fn edited_attributes_are_written_anew_and_untouched_ones_as_they_were_read() {
    let bool_kv = |key: &str, b: bool| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(b)),
        }),
        ..Default::default()
    };
    let body = one_record(|r| {
        r.attributes.push(bool_kv("on", true));
        r.attributes.push(bool_kv("off", false));
        r.attributes.push(r.attributes[0].clone());
    });
    let check = |view: &LogsView<'_>| {
        assert_eq!(view.encode_to_vec(), view.to_request().encode_to_vec());
    };
    let mut view = LogsView::parse(&body, &LIMITS).expect("viewed");
    check(&view);
    assert_eq!(view.encode_to_vec(), body, "untouched: the same bytes");
    let attrs = &mut view.resource_logs[0].scope_logs[0].log_records[0].attributes;
    // A borrowed value cut shorter (same start), a flipped boolean, a key borrowed from another
    // attribute, a string turned into a boolean.
    if let Some(ValueView {
        value: Some(Val::String(Cow::Borrowed(s))),
    }) = &mut attrs[0].value
    {
        *s = &s[..0];
    }
    attrs[1].value = Some(ValueView {
        value: Some(Val::Bool(false)),
    });
    attrs[2].key = attrs[1].key.clone();
    attrs[3].value = Some(ValueView {
        value: Some(Val::Bool(true)),
    });
    check(&view);
    let decoded = view.to_request();
    let kvs = &decoded.resource_logs[0].scope_logs[0].log_records[0].attributes;
    assert_eq!(
        kvs[0].value,
        Some(AnyValue {
            value: Some(Value::StringValue(String::new()))
        })
    );
    assert_eq!(
        kvs[1].value,
        Some(AnyValue {
            value: Some(Value::BoolValue(false))
        })
    );
    assert_eq!(kvs[2].key, "on");
    assert_eq!(
        kvs[3].value,
        Some(AnyValue {
            value: Some(Value::BoolValue(true))
        })
    );
}
