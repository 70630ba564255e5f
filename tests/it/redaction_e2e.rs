//! `redaction` with `preset: codex` through the real binary: no planted secret from the Codex
//! fixtures (protobuf, JSON, gzip, gRPC) and none from a real Codex CLI session reaches either
//! backend, in any signal or encoding.

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, Login, OtelProtocol};
use crate::support::fixtures::{self, all_log_records, attr_text, Payload};
use crate::support::gateway::{
    self, grpc_export_logs_with, grpc_export_metrics_with, grpc_export_traces_with, GrpcOptions,
};
use crate::support::mock_llm::{MockLlm, Script};
use crate::{start_fan_out, FanOut};
use codex_otel_gateway::codec::json;
use prost::Message;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The secrets planted in the fixtures (see tests/fixtures/README.md).
const PLANTED: &[&str] = &[
    "sk-proj-Zx81kQ2mLwP0aB7cD9eF3gH5",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "sk-live-51HqT9xKj2",
    "jane.doe@acme.test",
    "ops@acme.test",
];

const PRESET: FanOut<'static> = FanOut {
    http_encoding: "json",
    processors: &["redaction"],
    processors_yaml: "  redaction:\n    preset: codex\n    hash_key: \"${env:TEST_HASH_KEY:-0123456789abcdef0123456789abcdef}\"",
    http_extra: "",
    grpc_extra: "",
    admin_extra: "",
};

/// Every received request of a backend, in protobuf and in OTLP JSON.
pub fn everything_received(b: &FakeBackend) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for r in b.received_traces() {
        out.push(r.encode_to_vec());
        out.push(json::encode_traces(&r));
    }
    for r in b.received_metrics() {
        out.push(r.encode_to_vec());
        out.push(json::encode_metrics(&r));
    }
    for r in b.received_logs() {
        out.push(r.encode_to_vec());
        out.push(json::encode_logs(&r));
    }
    out
}

fn assert_no_secret(b: &FakeBackend, secrets: &[&str]) {
    let all = everything_received(b);
    assert!(!all.is_empty(), "{} received nothing", b.name());
    for blob in &all {
        for s in secrets {
            assert!(
                !blob.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} reached {}",
                b.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_codex_keeps_every_planted_secret_from_both_backends_in_every_encoding() {
    let mut setup = start_fan_out(PRESET).await;
    let all = fixtures::all_fixtures();
    // The planted secrets are really in what we send.
    let sent_text: Vec<u8> = all.iter().flat_map(|f| f.body.clone()).collect();
    for s in &PLANTED[..4] {
        assert!(
            sent_text.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} is in the fixtures"
        );
    }
    let base = setup.http_base();
    let endpoint = setup.grpc_endpoint();
    for f in &all {
        let url = format!("{base}{}", f.signal.http_path());
        // As captured (protobuf or JSON), gzip-compressed, JSON re-encoded, and over gRPC.
        let (s1, _, _) = gateway::post_fixture(&base, f).await;
        let (s2, _, _) =
            gateway::post(&url, &f.content_type, Some("gzip"), gateway::gzip(&f.body)).await;
        let (s3, _, _) =
            gateway::post(&url, "application/json", None, f.decode().encode_json()).await;
        assert_eq!((s1, s2, s3), (200, 200, 200), "{}", f.label());
        let opts = GrpcOptions::gzip();
        let r = match f.decode() {
            Payload::Traces(r) => grpc_export_traces_with(&endpoint, r, &opts)
                .await
                .map(|_| ()),
            Payload::Metrics(r) => grpc_export_metrics_with(&endpoint, r, &opts)
                .await
                .map(|_| ()),
            Payload::Logs(r) => grpc_export_logs_with(&endpoint, r, &opts).await.map(|_| ()),
        };
        assert!(r.is_ok(), "{}: {r:?}", f.label());
    }
    let records = 4 * fixtures::count_log_records(&fixtures::logs_of(&all));
    let spans = 4 * fixtures::count_spans(&fixtures::traces_of(&all));
    for b in [&setup.grpc_backend, &setup.http_backend] {
        b.expect_log_records(records, WAIT).await;
        b.expect_spans(spans, WAIT).await;
        assert_no_secret(b, PLANTED);
        // The events arrived, masked: the prompt is gone, its length kept; tool output redacted.
        let logs = b.received_logs();
        let recs = all_log_records(&logs);
        let prompt = recs
            .iter()
            .find(|r| {
                attr_text(&r.attributes, "event.name").as_deref() == Some("codex.user_prompt")
            })
            .expect("prompt event");
        assert_eq!(
            attr_text(&prompt.attributes, "prompt").as_deref(),
            Some("[REDACTED]")
        );
        assert!(attr_text(&prompt.attributes, "prompt_length").is_some());
        assert!(recs
            .iter()
            .any(|r| attr_text(&r.attributes, "output")
                .is_some_and(|o| o.contains("[REDACTED:openai]"))));
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", setup.admin_port))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("gateway_processor_events_total{processor=\"redaction\",event=\"redactions\",rule=\"openai\"}"),
        "redactions are counted per rule:\n{metrics}"
    );
    assert!(setup.gateway.stop().await.success());
}

/// Two real sessions of Codex `version` (OTLP/HTTP protobuf, then OTLP/gRPC, the second one
/// logged in to a fake ChatGPT account) with secrets in the prompt and the tool output: none of
/// them, and not the account's e-mail or id, reaches either backend; the e-mail arrives as a
/// stable HMAC pseudonym.
async fn real_codex_session_leaks_nothing(version: CodexVersion) {
    let secret_key = "sk-proj-Q9w8E7r6T5y4U3i2O1p0AsDf";
    let github = "ghp_9aB8c7D6e5F4g3H2i1J0kL9mN8oP7qR6sT5u";
    let aws = "AKIAIOSFODNN7EXAMPLE";
    let email = "alice.smith@acme.test";
    let login = Login {
        email: "bob.jones@acme.test".into(),
        account_id: "acct-7f3e9a1c".into(),
    };
    let llm = MockLlm::start(Script::with_tool_calls(
        [format!(
            "echo OPENAI_API_KEY={secret_key}; echo token {github}; echo aws {aws}"
        )],
        "Done; contact alice.smith@acme.test",
    ))
    .await;
    let mut setup = start_fan_out(PRESET).await;
    for protocol in [OtelProtocol::HttpBinary, OtelProtocol::Grpc] {
        let base = match protocol {
            OtelProtocol::Grpc => setup.grpc_endpoint(),
            _ => setup.http_base(),
        };
        let prompt = format!("Deploy with key sk-live-51HqT9xKj2ABCDEF and mail {email}");
        let mut session = CodexSession::new(version, &prompt, &llm.base_url(), protocol, &base);
        if protocol == OtelProtocol::Grpc {
            session.login = Some(login.clone());
        }
        session.run().await.assert_success();
    }
    assert!(
        llm.saw_text(secret_key) || llm.requests() >= 2,
        "the session ran its tool call"
    );
    for b in [&setup.grpc_backend, &setup.http_backend] {
        let ok = b
            .wait_for(
                |b| {
                    let logs = b.received_logs();
                    all_log_records(&logs)
                        .iter()
                        .filter(|r| {
                            attr_text(&r.attributes, "event.name").as_deref()
                                == Some("codex.tool_result")
                        })
                        .count()
                        >= 2
                },
                WAIT,
            )
            .await;
        assert!(
            ok,
            "both sessions' tool results reached {}: {}",
            b.name(),
            b.describe()
        );
        assert_no_secret(
            b,
            &[
                secret_key,
                github,
                aws,
                email,
                "sk-live-51HqT9xKj2ABCDEF",
                &login.email,
                &login.account_id,
            ],
        );
        // The logged-in session's identity arrives pseudonymised, one stable value per user.
        let logs = b.received_logs();
        let mut hashed: Vec<String> = all_log_records(&logs)
            .iter()
            .filter_map(|r| attr_text(&r.attributes, "user.email"))
            .collect();
        hashed.dedup();
        assert_eq!(hashed.len(), 1, "{version:?}: user.email values {hashed:?}");
        assert!(hashed[0].starts_with("hmac-sha256:"), "{}", hashed[0]);
    }
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_169_session_with_secrets_in_prompt_and_tool_output_leaks_nothing() {
    real_codex_session_leaks_nothing(CodexVersion::V0_169).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_171_session_with_secrets_in_prompt_and_tool_output_leaks_nothing() {
    real_codex_session_leaks_nothing(CodexVersion::V0_171).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_gateway_yaml_redacts_by_default() {
    let primary = FakeBackend::grpc().await;
    let secondary = FakeBackend::http().await;
    let (mut gw, [_, http, _]) =
        gateway::start_shipped_config(&primary.endpoint(), &secondary.endpoint()).await;
    let f = fixtures::fixture("tool-secrets-protobuf", "004_logs.pb");
    let (status, _, _) = gateway::post_fixture(&format!("http://127.0.0.1:{http}"), &f).await;
    assert_eq!(status, 200);
    let n = fixtures::count_log_records(&[fixtures::decode_logs(&f)]);
    for b in [&primary, &secondary] {
        b.expect_log_records(n, WAIT).await;
        assert_no_secret(b, PLANTED);
    }
    assert!(gw.stop().await.success());
}
