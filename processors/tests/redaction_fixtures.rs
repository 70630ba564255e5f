//! The `redaction` processor with `preset: codex` over every protobuf fixture of real Codex CLI
//! 0.169.0 telemetry (tests/fixtures/*/*.pb): no planted secret survives anywhere in the
//! re-encoded bytes, the prompt is masked and its length kept.
//!
//! The JSON fixtures (prompt-redacted-json) need the gateway's JSON codec, which lives in the main
//! crate; they are covered there, through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use processors::redaction::{HashKey, Preset, RedactionConfig, RedactionProcessor};
use processors::{find_attr, Metadata, ProcessContext, Processor};
use prost::Message;
use std::path::{Path, PathBuf};

const PLANTED: [&str; 4] = [
    "sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "sk-live-51HqT9xKj2",
    "jane.doe@acme.test",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Every `.pb` fixture, sorted.
fn pb_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("fixture folder") {
            let f = f.expect("entry").path();
            if f.extension().is_some_and(|e| e == "pb") {
                out.push(f);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 13,
        "expected the four protobuf sessions, got {out:?}"
    );
    out
}

fn preset(with_key: bool) -> RedactionProcessor {
    let mut cfg = RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    };
    if with_key {
        cfg.hash_key = Some(HashKey::new("fixture-test-hash-key-0123456789"));
    }
    cfg.build().expect("preset builds")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Audit counters: (name, label, value).
type Counts = Vec<(&'static str, String, u64)>;

/// Decodes, redacts and re-encodes one fixture; returns (original bytes, redacted bytes, counts).
fn redact_file(p: &RedactionProcessor, path: &Path) -> (Vec<u8>, Vec<u8>, Counts) {
    let body = std::fs::read(path).expect("read fixture");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);
    let out = if name.contains("traces") {
        let mut req = ExportTraceServiceRequest::decode(body.as_slice()).expect("traces");
        p.process_traces(&mut req, &mut cx);
        req.encode_to_vec()
    } else if name.contains("metrics") {
        let mut req = ExportMetricsServiceRequest::decode(body.as_slice()).expect("metrics");
        p.process_metrics(&mut req, &mut cx);
        req.encode_to_vec()
    } else if name.contains("logs") {
        let mut req = ExportLogsServiceRequest::decode(body.as_slice()).expect("logs");
        p.process_logs(&mut req, &mut cx);
        req.encode_to_vec()
    } else {
        panic!("unknown signal for {path:?}")
    };
    (body, out, cx.counts().to_vec())
}

#[test]
fn no_planted_secret_survives_in_any_protobuf_fixture() {
    for with_key in [true, false] {
        let p = preset(with_key);
        for path in pb_fixtures() {
            let (_, out, _) = redact_file(&p, &path);
            for secret in PLANTED {
                assert!(!contains(&out, secret), "{secret} survives in {path:?}");
            }
        }
    }
}

#[test]
fn the_planted_secrets_were_there_before_redaction() {
    let body =
        std::fs::read(fixtures_dir().join("tool-secrets-protobuf/004_logs.pb")).expect("fixture");
    for secret in PLANTED {
        assert!(
            contains(&body, secret),
            "{secret} is planted in the fixture"
        );
    }
}

#[test]
fn prompt_is_masked_and_prompt_length_is_kept() {
    let p = preset(true);
    let mut prompts = 0;
    for path in pb_fixtures() {
        if !path.to_string_lossy().contains("logs") {
            continue;
        }
        let body = std::fs::read(&path).expect("fixture");
        let original = ExportLogsServiceRequest::decode(body.as_slice()).expect("logs");
        let mut req = original.clone();
        let md = Metadata::default();
        p.process_logs(&mut req, &mut ProcessContext::new(&md));
        let records = |r: &ExportLogsServiceRequest| {
            r.resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .cloned()
                .collect::<Vec<_>>()
        };
        for (before, after) in records(&original).iter().zip(records(&req)) {
            if find_attr(&before.attributes, "prompt").is_none() {
                continue;
            }
            prompts += 1;
            assert_eq!(
                find_attr(&after.attributes, "prompt"),
                Some(&Value::StringValue("[REDACTED]".into())),
                "{path:?}"
            );
            let len = find_attr(&before.attributes, "prompt_length");
            assert!(len.is_some(), "Codex sends prompt_length next to prompt");
            assert_eq!(find_attr(&after.attributes, "prompt_length"), len);
        }
    }
    assert_eq!(prompts, 3, "one codex.user_prompt event per session");
}

#[test]
fn audit_counts_on_the_tool_secrets_logs_name_each_rule() {
    let p = preset(true);
    let (_, out, counts) = redact_file(
        &p,
        &fixtures_dir().join("tool-secrets-protobuf/004_logs.pb"),
    );
    let mut got: Vec<(String, u64)> = counts.into_iter().map(|(_, l, n)| (l, n)).collect();
    got.sort();
    // The prompt (with sk-live-… and the e-mail) is masked whole by its key rule; the OpenAI and
    // GitHub keys appear in both `arguments` and `output` of codex.tool_result.
    assert_eq!(
        got,
        [
            ("github".to_string(), 2),
            ("key:prompt".to_string(), 1),
            ("openai".to_string(), 2),
        ]
    );
    assert!(contains(&out, "OPENAI_API_KEY=[REDACTED:openai]"));
    assert!(contains(&out, "GITHUB_TOKEN=[REDACTED:github]"));
}
