//! Property tests of the `redaction` processor (`preset: codex`, i.e. every detector):
//!
//! 1. Secrets of every detector kind, generated at random (random suffixes, Luhn-valid card
//!    numbers, ...), planted at random places and random nesting depths of random requests of all
//!    three signals, never survive: the encoded output does not contain them.
//! 2. Requests whose strings are drawn from an alphabet that cannot form any secret come out
//!    byte-identical.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use processors::redaction::{HashKey, Preset, RedactionConfig, RedactionProcessor};
use processors::{Metadata, ProcessContext, Processor};
use proptest::prelude::*;
use prost::Message;
use std::sync::OnceLock;

/// Built once: compiling the detectors costs far more than one case.
fn processor() -> &'static RedactionProcessor {
    static P: OnceLock<RedactionProcessor> = OnceLock::new();
    P.get_or_init(|| {
        RedactionConfig {
            preset: Some(Preset::Codex),
            hash_key: Some(HashKey::new("proptest-hash-key-0123456789")),
            ..Default::default()
        }
        .build()
        .expect("preset builds")
    })
}

// ---- secrets -------------------------------------------------------------------------------

/// A planted secret: `text` goes into the request, `secret` must not come out.
#[derive(Debug, Clone)]
struct Planted {
    text: String,
    secret: String,
}

fn plain(secret: String) -> Planted {
    Planted {
        text: secret.clone(),
        secret,
    }
}

fn around(before: &str, secret: String, after: &str) -> Planted {
    Planted {
        text: format!("{before}{secret}{after}"),
        secret,
    }
}

fn luhn_complete(body: &str) -> String {
    // Appends the check digit that makes `body` + digit Luhn-valid.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0');
            if i % 2 == 0 {
                if v * 2 > 9 {
                    v * 2 - 9
                } else {
                    v * 2
                }
            } else {
                v
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn group(digits: &str, sep: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(sep)
}

fn openai() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec!["", "proj-", "svcacct-", "live-"]),
        "[A-Za-z0-9][A-Za-z0-9_-]{9,40}[A-Za-z0-9]",
    )
        .prop_filter("not anthropic", |(p, s)| {
            !(p.is_empty() && s.starts_with("ant-"))
        })
        .prop_map(|(p, s)| plain(format!("sk-{p}{s}")))
}

fn anthropic() -> impl Strategy<Value = Planted> {
    "[A-Za-z0-9][A-Za-z0-9_-]{10,40}[A-Za-z0-9]".prop_map(|s| plain(format!("sk-ant-api03-{s}")))
}

fn github() -> impl Strategy<Value = Planted> {
    prop_oneof![
        (
            prop::sample::select(vec!["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
            "[A-Za-z0-9]{36}"
        )
            .prop_map(|(p, s)| plain(format!("{p}{s}"))),
        "[A-Za-z0-9_]{40,82}".prop_map(|s| plain(format!("github_pat_{s}"))),
    ]
}

fn aws() -> impl Strategy<Value = Planted> {
    prop_oneof![
        (prop::sample::select(vec!["AKIA", "ASIA"]), "[A-Z0-9]{16}")
            .prop_map(|(p, s)| plain(format!("{p}{s}"))),
        (
            prop::sample::select(vec![
                "aws_secret_access_key=",
                "AWS_SECRET_ACCESS_KEY: ",
                "aws_secret_access_key = \""
            ]),
            "[A-Za-z0-9/+]{40}"
        )
            .prop_map(|(k, s)| around(k, s, "")),
    ]
}

fn google() -> impl Strategy<Value = Planted> {
    "[A-Za-z0-9_-]{35}".prop_map(|s| plain(format!("AIza{s}")))
}

fn slack() -> impl Strategy<Value = Planted> {
    ("[abpr]", "[0-9]{10,12}", "[A-Za-z0-9]{20,32}")
        .prop_map(|(t, n, s)| plain(format!("xox{t}-{n}-{s}")))
}

fn stripe() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec!["sk_live_", "rk_live_", "sk_test_", "rk_test_"]),
        "[A-Za-z0-9]{24,32}",
    )
        .prop_map(|(p, s)| plain(format!("{p}{s}")))
}

fn jwt() -> impl Strategy<Value = Planted> {
    (
        "[A-Za-z0-9_-]{10,30}",
        "[A-Za-z0-9_-]{10,60}",
        "[A-Za-z0-9_-]{20,43}",
    )
        .prop_map(|(h, p, s)| plain(format!("eyJ{h}.eyJ{p}.{s}")))
}

fn private_key() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec!["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""]),
        "[A-Za-z0-9+/]{40,120}",
        any::<bool>(),
    )
        .prop_map(|(kind, body, terminated)| {
            let end = if terminated {
                format!("\n-----END {kind}PRIVATE KEY-----")
            } else {
                String::new()
            };
            around(&format!("-----BEGIN {kind}PRIVATE KEY-----\n"), body, &end)
        })
}

fn auth_header() -> impl Strategy<Value = Planted> {
    prop_oneof![
        (
            prop::sample::select(vec![
                "Authorization: Bearer ",
                "authorization: bearer ",
                "Authorization: Basic ",
                "\"Authorization\": \"Bearer ",
                "-H 'Authorization: token ",
                "Proxy-Authorization: Basic ",
            ]),
            "[A-Za-z0-9._~+/-]{8,60}"
        )
            .prop_map(|(h, t)| around(h, t, "")),
        "[A-Za-z0-9]{7,40}".prop_map(|t| around("Bearer ", format!("{t}9"), "")),
    ]
}

fn url_password() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec!["https", "postgres", "redis", "git+ssh"]),
        "[a-z]{3,10}",
        "[A-Za-z0-9!$%^*_~-]{8,24}",
    )
        .prop_map(|(scheme, user, pass)| {
            around(
                &format!("{scheme}://{user}:"),
                pass,
                "@db.acme.test:5432/app",
            )
        })
}

fn assignment() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec![
            "password=",
            "passwd: ",
            "secret = ",
            "token=",
            "api_key: ",
            "apikey=",
            "DB_PASSWORD=",
            "\"password\": \"",
            "client_secret='",
            "export API_KEY=",
        ]),
        "[A-Za-z0-9][A-Za-z0-9!#+/^~-]{6,30}[0-9]",
    )
        .prop_map(|(k, v)| around(k, v, ""))
}

fn email() -> impl Strategy<Value = Planted> {
    (
        "[a-z]{2,10}",
        "[a-z0-9]{1,10}",
        "[a-z]{2,12}",
        "com|test|io|dev",
    )
        .prop_map(|(a, b, d, tld)| plain(format!("{a}.{b}@{d}.{tld}")))
}

fn credit_card() -> impl Strategy<Value = Planted> {
    (
        prop::sample::select(vec!["3", "4", "5", "6"]),
        12usize..=18,
        any::<u64>(),
        any::<u64>(),
        prop::sample::select(vec!["", " ", "-"]),
    )
        .prop_map(|(first, len, a, b, sep)| {
            let digits = format!("{a:020}{b:020}");
            let body = format!("{first}{}", &digits[..len - 1]);
            let full = luhn_complete(&body);
            plain(if sep.is_empty() {
                full
            } else {
                group(&full, sep)
            })
        })
}

fn any_secret() -> impl Strategy<Value = Planted> {
    prop_oneof![
        openai(),
        anthropic(),
        github(),
        aws(),
        google(),
        slack(),
        stripe(),
        jwt(),
        private_key(),
        auth_header(),
        url_password(),
        assignment(),
        email(),
        credit_card(),
    ]
}

// ---- safe text -----------------------------------------------------------------------------

/// No digits, no upper case, no `-`, `_`, `:`, `=`, `@`, no `b`: none of the detectors can match.
const SAFE: &str = "[ac-zé漢 /.,]{0,24}";

/// Secret inside safe text, with a separator the detectors treat as a boundary.
fn carrier(p: Planted) -> impl Strategy<Value = Planted> {
    (
        SAFE,
        SAFE,
        prop::sample::select(vec![" ", "\n", "\"", "(", "'", "= "]),
        prop::sample::select(vec![" ", "\n", "\"", ")", ";", ","]),
    )
        .prop_map(move |(pre, post, l, r)| Planted {
            text: format!("{pre}{l}{}{r}{post}", p.text),
            secret: p.secret.clone(),
        })
}

// ---- requests ------------------------------------------------------------------------------

/// Where in a request a string goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    ResourceAttr,
    ScopeName,
    ScopeVersion,
    ScopeAttr,
    SpanName,
    SpanAttr,
    StatusMessage,
    EventName,
    EventAttr,
    LinkAttr,
    LogBody,
    LogAttr,
    LogEventName,
    MetricMetadata,
    GaugePoint,
    SumPoint,
    HistogramPoint,
    ExpHistogramPoint,
    SummaryPoint,
    Exemplar,
}

const TRACE_PLACES: &[Place] = &[
    Place::ResourceAttr,
    Place::ScopeName,
    Place::ScopeVersion,
    Place::ScopeAttr,
    Place::SpanName,
    Place::SpanAttr,
    Place::StatusMessage,
    Place::EventName,
    Place::EventAttr,
    Place::LinkAttr,
];
const LOG_PLACES: &[Place] = &[
    Place::ResourceAttr,
    Place::ScopeName,
    Place::ScopeAttr,
    Place::LogBody,
    Place::LogAttr,
    Place::LogEventName,
];
const METRIC_PLACES: &[Place] = &[
    Place::ResourceAttr,
    Place::ScopeName,
    Place::ScopeAttr,
    Place::MetricMetadata,
    Place::GaugePoint,
    Place::SumPoint,
    Place::HistogramPoint,
    Place::ExpHistogramPoint,
    Place::SummaryPoint,
    Place::Exemplar,
];

/// One string to put somewhere: the text, its place, how deep to nest it (attribute values and
/// bodies only) and a safe key.
#[derive(Debug, Clone)]
struct Put {
    text: String,
    place_index: usize,
    depth: usize,
    key: String,
}

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

/// `text` nested `depth` levels deep, alternating arrays (with safe neighbours) and kvlists.
fn nested(text: &str, depth: usize, key: &str) -> AnyValue {
    let mut v = s(text);
    for level in 0..depth {
        v = if level % 2 == 0 {
            AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::IntValue(level as i64)),
                        },
                        v,
                        s("safe neighbour"),
                    ],
                })),
            }
        } else {
            AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv(&format!("{key}.{level}"), v), kv("attr.other", s("x"))],
                })),
            }
        };
    }
    v
}

fn attr(p: &Put) -> KeyValue {
    kv(&p.key, nested(&p.text, p.depth, &p.key))
}

fn base_attrs() -> Vec<KeyValue> {
    vec![
        kv("attr.name", s("codex exec")),
        kv(
            "attr.count",
            AnyValue {
                value: Some(Value::IntValue(7)),
            },
        ),
        kv(
            "attr.bytes",
            AnyValue {
                value: Some(Value::BytesValue(vec![1, 2, 3])),
            },
        ),
    ]
}

fn resource(puts: &[&Put]) -> Option<Resource> {
    let mut attributes = base_attrs();
    attributes.extend(puts.iter().map(|p| attr(p)));
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn scope(puts: &[(Place, &Put)]) -> Option<InstrumentationScope> {
    let mut sc = InstrumentationScope {
        name: "codex_otel".into(),
        version: "0.31.0".into(),
        attributes: base_attrs(),
        ..Default::default()
    };
    for (place, p) in puts {
        match place {
            Place::ScopeName => sc.name.push_str(&format!(" {}", p.text)),
            Place::ScopeVersion => sc.version.push_str(&format!(" {}", p.text)),
            Place::ScopeAttr => sc.attributes.push(attr(p)),
            _ => {}
        }
    }
    Some(sc)
}

fn placed<'a>(puts: &'a [Put], places: &[Place]) -> Vec<(Place, &'a Put)> {
    puts.iter()
        .map(|p| (places[p.place_index % places.len()], p))
        .collect()
}

fn at<'a>(all: &[(Place, &'a Put)], place: Place) -> Vec<&'a Put> {
    all.iter()
        .filter(|(pl, _)| *pl == place)
        .map(|(_, p)| *p)
        .collect()
}

fn traces(puts: &[Put]) -> ExportTraceServiceRequest {
    let all = placed(puts, TRACE_PLACES);
    let mut sp = Span {
        name: "session_task.turn".into(),
        attributes: base_attrs(),
        status: Some(Status {
            message: "ok".into(),
            code: 1,
        }),
        events: vec![span::Event {
            name: "event".into(),
            attributes: base_attrs(),
            ..Default::default()
        }],
        links: vec![span::Link {
            attributes: base_attrs(),
            ..Default::default()
        }],
        ..Default::default()
    };
    for (place, p) in &all {
        match place {
            Place::SpanName => sp.name.push_str(&format!(" {}", p.text)),
            Place::SpanAttr => sp.attributes.push(attr(p)),
            Place::StatusMessage => {
                if let Some(st) = sp.status.as_mut() {
                    st.message.push_str(&format!(" {}", p.text))
                }
            }
            Place::EventName => sp.events[0].name.push_str(&format!(" {}", p.text)),
            Place::EventAttr => sp.events[0].attributes.push(attr(p)),
            Place::LinkAttr => sp.links[0].attributes.push(attr(p)),
            _ => {}
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(&at(&all, Place::ResourceAttr)),
            scope_spans: vec![ScopeSpans {
                scope: scope(&all),
                spans: vec![
                    sp.clone(),
                    Span {
                        name: "other".into(),
                        ..sp
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(puts: &[Put]) -> ExportLogsServiceRequest {
    let all = placed(puts, LOG_PLACES);
    let mut rec = LogRecord {
        event_name: "codex.tool_result".into(),
        attributes: base_attrs(),
        ..Default::default()
    };
    let mut body = Vec::new();
    for (place, p) in &all {
        match place {
            Place::LogBody => body.push(attr(p)),
            Place::LogAttr => rec.attributes.push(attr(p)),
            Place::LogEventName => rec.event_name.push_str(&format!(" {}", p.text)),
            _ => {}
        }
    }
    if !body.is_empty() {
        rec.body = Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList { values: body })),
        });
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(&at(&all, Place::ResourceAttr)),
            scope_logs: vec![ScopeLogs {
                scope: scope(&all),
                log_records: vec![rec],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics(puts: &[Put]) -> ExportMetricsServiceRequest {
    let all = placed(puts, METRIC_PLACES);
    let attrs_for = |place: Place| {
        let mut a = base_attrs();
        a.extend(at(&all, place).iter().map(|p| attr(p)));
        a
    };
    let exemplars = vec![Exemplar {
        filtered_attributes: attrs_for(Place::Exemplar),
        ..Default::default()
    }];
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        description: "d".into(),
        unit: "ms".into(),
        metadata: attrs_for(Place::MetricMetadata),
        data: Some(data),
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(&at(&all, Place::ResourceAttr)),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(&all),
                metrics: vec![
                    metric(
                        "codex.gauge",
                        Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: attrs_for(Place::GaugePoint),
                                exemplars: exemplars.clone(),
                                ..Default::default()
                            }],
                        }),
                    ),
                    metric(
                        "codex.sum",
                        Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: attrs_for(Place::SumPoint),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "codex.histogram",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: attrs_for(Place::HistogramPoint),
                                exemplars: exemplars.clone(),
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![10.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "codex.exp_histogram",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes: attrs_for(Place::ExpHistogramPoint),
                                positive: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![1],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "codex.summary",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: attrs_for(Place::SummaryPoint),
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The three encoded requests after redaction.
fn redact_all(p: &RedactionProcessor, puts: &[Put]) -> [(Vec<u8>, Vec<u8>); 3] {
    let md = Metadata::default();
    let mut t = traces(puts);
    let mut l = logs(puts);
    let mut m = metrics(puts);
    let before = [t.encode_to_vec(), l.encode_to_vec(), m.encode_to_vec()];
    p.process_traces(&mut t, &mut ProcessContext::new(&md));
    p.process_logs(&mut l, &mut ProcessContext::new(&md));
    p.process_metrics(&mut m, &mut ProcessContext::new(&md));
    let [bt, bl, bm] = before;
    [
        (bt, t.encode_to_vec()),
        (bl, l.encode_to_vec()),
        (bm, m.encode_to_vec()),
    ]
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn put(text: impl Strategy<Value = String>) -> impl Strategy<Value = Put> {
    (text, 0usize..20, 0usize..7, "attr\\.[ac-z]{1,8}").prop_map(
        |(text, place_index, depth, key)| Put {
            text,
            place_index,
            depth,
            key,
        },
    )
}

fn secret_puts() -> impl Strategy<Value = (Vec<Put>, Vec<String>)> {
    prop::collection::vec(
        any_secret().prop_flat_map(carrier).prop_flat_map(|p| {
            let secret = p.secret.clone();
            put(Just(p.text)).prop_map(move |put| (put, secret.clone()))
        }),
        1..6,
    )
    .prop_map(|v| v.into_iter().unzip())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn planted_secrets_of_every_kind_never_survive(
        (puts, secrets) in secret_puts(),
        safe in prop::collection::vec(put(SAFE.prop_map(String::from)), 0..6),
    ) {
        let p = processor();
        let mut all = safe;
        all.extend(puts);
        for (signal, (_, after)) in redact_all(p, &all).iter().enumerate() {
            for secret in &secrets {
                prop_assert!(!contains(after, secret), "signal {signal}: {secret:?} survives");
            }
        }
    }

    #[test]
    fn requests_without_secrets_come_out_byte_identical(
        safe in prop::collection::vec(put(SAFE.prop_map(String::from)), 0..12),
    ) {
        let p = processor();
        for (signal, (before, after)) in redact_all(p, &safe).iter().enumerate() {
            prop_assert!(before == after, "signal {signal} changed");
        }
    }
}

#[test]
fn every_kind_of_secret_is_generated_and_caught_standalone() {
    // Each generator on its own, many times: a failing kind is named by the assertion.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let p = processor();
    let kinds: Vec<(&str, BoxedStrategy<Planted>)> = vec![
        ("openai", openai().boxed()),
        ("anthropic", anthropic().boxed()),
        ("github", github().boxed()),
        ("aws", aws().boxed()),
        ("google_api_key", google().boxed()),
        ("slack", slack().boxed()),
        ("stripe", stripe().boxed()),
        ("jwt", jwt().boxed()),
        ("private_key", private_key().boxed()),
        ("auth_header", auth_header().boxed()),
        ("url_password", url_password().boxed()),
        ("assignment", assignment().boxed()),
        ("email", email().boxed()),
        ("credit_card", credit_card().boxed()),
    ];
    let mut runner = TestRunner::deterministic();
    for (name, strategy) in kinds {
        for _ in 0..200 {
            let planted = strategy
                .clone()
                .prop_flat_map(carrier)
                .new_tree(&mut runner)
                .expect("value")
                .current();
            let out = p
                .redact_str(&planted.text)
                .unwrap_or_else(|| planted.text.clone());
            assert!(
                !out.contains(&planted.secret),
                "{name}: {:?} -> {out:?}",
                planted.text
            );
        }
    }
}
