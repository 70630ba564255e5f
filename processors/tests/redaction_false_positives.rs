//! False positives: ordinary Codex strings must come through `preset: codex` untouched.
//!
//! Documented exceptions (rules that do change harmless-looking text on purpose):
//! - `prompt` and `response` are masked whole by the preset's key rules, whatever they contain.
//! - `user.email` and `user.account_id` are hashed by the preset's key rules.
//! - In tests/fixtures, nothing else changes: every trace and metric fixture comes out
//!   byte-identical, and in logs only `prompt` and the planted secrets inside `arguments` /
//!   `output` of tool-secrets-protobuf change.

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use processors::redaction::{Preset, RedactionConfig, RedactionProcessor};
use processors::{Metadata, ProcessContext, Processor};
use prost::Message;
use std::path::{Path, PathBuf};

fn preset() -> RedactionProcessor {
    RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    }
    .build()
    .expect("preset builds")
}

fn assert_untouched(p: &RedactionProcessor, samples: &[&str]) {
    for s in samples {
        assert_eq!(p.redact_str(s), None, "false positive on {s:?}");
    }
}

#[test]
fn git_shas_uuids_ids_and_versions_are_not_masked() {
    assert_untouched(
        &preset(),
        &[
            "4532def0a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "commit 5196c37e9b0a41f2d3c4b5a69788f0e1d2c3b4a5 (HEAD -> main)",
            "01a1fc6e-e10a-7442-9281-3109f6a357e9",
            "123e4567-e89b-12d3-a456-426614174000",
            "conversation.id=01a1fc6e-e10a-7442-9281-3109f6a357e9",
            "ThreadId(12)",
            "tokio-runtime-worker",
            "0.169.0",
            "v1.88.0-nightly (2025-05-01)",
            "OTel-OTLP-Exporter-Rust/0.31.0",
            "@openai/codex@0.169.0",
            "gpt-5.1-codex",
            "resp_68f0c2a9b8e4819c9d1e2f3a4b5c6d7e",
            "call_Zx81kQ2mLwP0aB7cD9eF",
            "Chunk ID: 767a0a",
        ],
    );
}

#[test]
fn timestamps_and_numbers_that_fail_luhn_are_not_masked() {
    let p = preset();
    assert_untouched(
        &p,
        &[
            "2026-11-21T04:48:07.441Z",
            "2026-11-21 04:48:07.441 +00:00",
            "1763700487",
            "1763700487441",
            "1763700487441123456",
            "duration 12345678901234 ns",
            "4111111111111112",
            "4111 1111 1111 1112",
            "5500-0000-0000-0005",
            "10.0.0.12:8080",
            "Wall time: 0.0000 seconds",
        ],
    );
    // Many numbers of card length with a wrong check digit.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let digits = format!("4{:015}", x % 1_000_000_000_000_000);
        let n = if luhn_ok(&digits) {
            let last = (digits.as_bytes()[15] - b'0' + 1) % 10;
            format!("{}{}", &digits[..15], last)
        } else {
            digits
        };
        assert_eq!(p.redact_str(&n), None, "{n} fails Luhn");
    }
}

fn luhn_ok(d: &str) -> bool {
    let sum: u32 = d
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0');
            if i % 2 == 1 {
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
    sum.is_multiple_of(10)
}

#[test]
fn random_hex_shas_and_uuids_are_not_masked() {
    let p = preset();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let sha = format!("{:016x}{:016x}{:08x}", next(), next(), next() as u32);
        assert_eq!(p.redact_str(&sha), None, "{sha}");
        let u = format!("{:032x}", (u128::from(next()) << 64) | u128::from(next()));
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &u[..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..]
        );
        assert_eq!(p.redact_str(&uuid), None, "{uuid}");
    }
}

#[test]
fn file_paths_urls_and_shell_commands_are_not_masked() {
    assert_untouched(
        &preset(),
        &[
            "/home/dev/src/payments-service/src/main.rs",
            "otel/src/events/session_telemetry.rs:703",
            "C:\\Users\\dev\\src\\payments-service\\Cargo.toml",
            "https://github.com/acme/payments-service.git",
            "git@github.com:acme/payments-service.git",
            "ssh://git@github.com/acme/payments-service.git",
            "http://127.0.0.1:4318/v1/traces",
            "http://localhost:8080/path@v2",
            "{\"cmd\": \"cargo test -p payments --locked\"}",
            "{\"command\":[\"bash\",\"-lc\",\"git status --short && ls -la src\"]}",
            "rg -n 'fn main' src/ | head -20",
            "task-scheduler-service disk-usage-monitor risk-assessment-engine",
            "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/lib.rs\n@@\n-old\n+new\n*** End Patch\nEOF",
            "Process exited with code 1",
            "Original token count: 28",
            "error[E0308]: mismatched types --> src/main.rs:12:5",
        ],
    );
}

#[test]
fn code_snippets_are_not_masked() {
    assert_untouched(
        &preset(),
        &[
            "fn login(user: &str, password: &str, token: Option<String>) -> Result<Session> {",
            "let token = self.token.clone();",
            "let password = read_password()?;",
            "pub struct Config { pub api_key: String, pub secret: Vec<u8> }",
            "if token == expected { return Ok(()); }",
            "token: impl Into<String>,",
            "def connect(host: str, password: str = None):",
            "    password = os.environ[\"DB_PASSWORD\"]",
            "    api_key = get_api_key()",
            "    token = config.auth.token",
            "interface Creds { token: string; password?: string }",
            "const secret = process.env.SECRET;",
            "export PASSWORD=${DB_PASSWORD}",
            "password: ${env:DB_PASSWORD}",
            "curl -H \"Authorization: Bearer $TOKEN\" https://api.example.test",
            "Bearer authentication is required for this endpoint",
            "max_tokens: 4096, temperature: 0.2",
            "input_token_count=1200 output_token_count=300",
            "#[derive(Debug, Clone)]\nstruct Span { name: String }",
            "for (i, x) in xs.iter().enumerate() { println!(\"{i}: {x}\"); }",
            "@property\ndef name(self) -> str:\n    return self._name",
        ],
    );
}

#[test]
fn base64_of_non_secrets_is_not_masked() {
    assert_untouched(
        &preset(),
        &[
            "aGVsbG8gd29ybGQ=",
            "eyJhbGciOiJIUzI1NiJ9",
            "SGVsbG8sIENvZGV4ISBUaGlzIGlzIGp1c3QgYSBsb25nZXIgbWVzc2FnZS4=",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        ],
    );
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).expect("fixtures") {
        let dir = dir.expect("entry").path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).expect("folder") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|e| e == "pb") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fixture_traces_and_metrics_come_out_byte_identical() {
    let p = preset();
    let md = Metadata::default();
    let mut checked = 0;
    for path in fixtures() {
        let name = path.to_string_lossy().to_string();
        let body = std::fs::read(&path).expect("read");
        let mut cx = ProcessContext::new(&md);
        let (before, after) = if name.contains("traces") {
            let orig = ExportTraceServiceRequest::decode(body.as_slice()).expect("traces");
            let mut req = orig.clone();
            p.process_traces(&mut req, &mut cx);
            (orig.encode_to_vec(), req.encode_to_vec())
        } else if name.contains("metrics") {
            let orig = ExportMetricsServiceRequest::decode(body.as_slice()).expect("metrics");
            let mut req = orig.clone();
            p.process_metrics(&mut req, &mut cx);
            (orig.encode_to_vec(), req.encode_to_vec())
        } else {
            continue;
        };
        assert!(before == after, "{name} changed");
        assert!(cx.counts().is_empty(), "{name}: {:?}", cx.counts());
        checked += 1;
    }
    assert_eq!(checked, 10, "7 trace and 3 metric fixtures");
}

#[test]
fn fixture_logs_change_only_where_a_documented_rule_says_so() {
    let p = preset();
    let md = Metadata::default();
    for path in fixtures() {
        let name = path.to_string_lossy().to_string();
        if !name.contains("logs") {
            continue;
        }
        let body = std::fs::read(&path).expect("read");
        let orig = ExportLogsServiceRequest::decode(body.as_slice()).expect("logs");
        let mut req = orig.clone();
        p.process_logs(&mut req, &mut ProcessContext::new(&md));
        let recs = |r: &ExportLogsServiceRequest| {
            r.resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .cloned()
                .collect::<Vec<_>>()
        };
        for (a, b) in recs(&orig).iter().zip(recs(&req)) {
            assert_eq!(a.body, b.body, "{name}");
            assert_eq!(a.event_name, b.event_name, "{name}");
            assert_eq!(a.attributes.len(), b.attributes.len(), "{name}");
            for (x, y) in a.attributes.iter().zip(&b.attributes) {
                if x == y {
                    continue;
                }
                let planted =
                    name.contains("tool-secrets") && (x.key == "arguments" || x.key == "output");
                assert!(
                    x.key == "prompt" || planted,
                    "{name}: undocumented change of {}",
                    x.key
                );
            }
        }
    }
}
