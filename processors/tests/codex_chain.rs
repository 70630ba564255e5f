//! `codex` → `team` → `filter` over every protobuf fixture, driven the way the pipeline drives a
//! chain (`OtlpRequest::process_with` on `&dyn Processor`, then `prune`), using only the public API.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use processors::codex::CodexConfig;
use processors::filter::FilterConfig;
use processors::team::TeamConfig;
use processors::{find_attr, Metadata, OtlpRequest, ProcessContext, Processor};
use prost::Message;

const SESSIONS: &[&str] = &[
    "tool-secrets-protobuf",
    "api-retries-protobuf",
    "failing-tool-loop-protobuf",
];

fn chain() -> Vec<Box<dyn Processor>> {
    let codex = CodexConfig::default().build().expect("codex");
    let team: TeamConfig = serde_json::from_str(
        r#"{"rules": [{"name": "header",
                       "match": {"metadata": {"key": "x-codex-team", "regex": "^(?P<t>\\w+)$"}},
                       "set": {"team": "${t}"}}]}"#,
    )
    .expect("team config");
    let filter: FilterConfig = serde_json::from_str(
        r#"{"traces": {"span": [{"name_regex": "^fs\\."}]},
            "logs": {"log_record": [{"name": "codex.sse_event",
                                      "attributes": {"event.kind": {"regex": "^response\\.output_"}}}]},
            "drop_attributes": {"patterns": ["^code\\."]}}"#,
    )
    .expect("filter config");
    vec![
        Box::new(codex),
        Box::new(team.build().expect("team")),
        Box::new(filter.build().expect("filter")),
    ]
}

fn run<R: OtlpRequest>(req: &mut R, md: &Metadata) -> (u64, Vec<(String, String, u64)>) {
    let mut cx = ProcessContext::new(md);
    for p in chain() {
        req.process_with(p.as_ref(), &mut cx);
    }
    req.prune();
    let counts = cx
        .counts()
        .iter()
        .map(|(n, l, v)| (n.to_string(), l.clone(), *v))
        .collect();
    (cx.take_dropped(), counts)
}

fn files(session: &str, suffix: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../tests/fixtures/{session}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

#[test]
fn the_three_processors_compose_on_every_fixture_signal() {
    let md = Metadata::from_pairs([("x-codex-team", "payments")]);
    for session in SESSIONS {
        for body in files(session, "_logs.pb") {
            let mut req = ExportLogsServiceRequest::decode(body.as_slice()).expect("logs");
            let before = req.item_count() as u64;
            let (dropped, counts) = run(&mut req, &md);
            assert!(dropped > 0, "{session}: sse output events dropped");
            assert_eq!(before - dropped, req.item_count() as u64);
            for rl in &req.resource_logs {
                let res = &rl.resource.as_ref().expect("resource").attributes;
                assert_eq!(
                    find_attr(res, "team"),
                    Some(&Value::StringValue("payments".into()))
                );
                for lr in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    assert_ne!(lr.time_unix_nano, 0);
                }
            }
            assert!(counts
                .iter()
                .any(|(n, l, _)| n == "team_tagged" && l == "header"));
            assert!(counts.iter().any(|(n, _, _)| n == "codex_fixes"));
        }
        for body in files(session, "_metrics.pb") {
            let mut req = ExportMetricsServiceRequest::decode(body.as_slice()).expect("metrics");
            let before = req.item_count();
            let (dropped, _) = run(&mut req, &md);
            assert_eq!(dropped, 0);
            assert_eq!(req.item_count(), before);
        }
        for body in files(session, "_traces.pb") {
            let mut req = ExportTraceServiceRequest::decode(body.as_slice()).expect("traces");
            let before = req.item_count() as u64;
            let (dropped, counts) = run(&mut req, &md);
            assert_eq!(before - dropped, req.item_count() as u64);
            let code_attrs: u64 = counts
                .iter()
                .filter(|(n, _, _)| n == "attributes_dropped")
                .map(|(_, _, v)| v)
                .sum();
            assert!(code_attrs >= 3 * req.item_count() as u64, "{session}");
        }
    }
}
