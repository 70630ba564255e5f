//! The real Codex CLI (each pinned version: npm `@openai/codex@0.169.0` and `@0.171.0`, installed
//! by `npm ci --prefix tests/codex`) runs one `codex exec` session against a scripted model served by the test, exporting to the
//! gateway over OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC. Both backends behind the
//! gateway must receive the session's prompt and tool-result events, its metrics and its spans.

use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::mock_llm::{MockLlm, Script};
use crate::{start_fan_out, FanOut, Setup};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn event_names(backend: &crate::support::backends::FakeBackend) -> Vec<String> {
    let logs = backend.received_logs();
    all_log_records(&logs)
        .iter()
        .filter_map(|r| attr_text(&r.attributes, "event.name"))
        .collect()
}

async fn session_reaches_both_backends(version: CodexVersion, protocol: OtelProtocol) {
    let llm = MockLlm::start(Script::with_tool_calls(
        ["echo gateway-e2e-tool-output"],
        "All done.",
    ))
    .await;
    let mut setup: Setup = start_fan_out(FanOut::default()).await;
    let base = match protocol {
        OtelProtocol::Grpc => setup.grpc_endpoint(),
        _ => setup.http_base(),
    };
    let session = CodexSession::new(
        version,
        "Run the deploy check please",
        &llm.base_url(),
        protocol,
        &base,
    );
    let run = session.run().await;
    run.assert_success();
    assert!(llm.requests() >= 2, "one tool call then the final answer");

    for backend in [&setup.grpc_backend, &setup.http_backend] {
        let ok = backend
            .wait_for(
                |b| {
                    let names = event_names(b);
                    names.iter().any(|n| n == "codex.user_prompt")
                        && names.iter().any(|n| n == "codex.tool_result")
                        && b.data_point_count() > 0
                        && b.span_count() > 0
                },
                WAIT,
            )
            .await;
        assert!(
            ok,
            "{protocol:?}: {} got {:?}\n{}",
            backend.name(),
            backend.describe(),
            setup.gateway.output_report()
        );
        let logs = backend.received_logs();
        let records = all_log_records(&logs);
        let tool = records
            .iter()
            .find(|r| {
                attr_text(&r.attributes, "event.name").as_deref() == Some("codex.tool_result")
            })
            .expect("tool result");
        assert!(
            attr_text(&tool.attributes, "output")
                .is_some_and(|o| o.contains("gateway-e2e-tool-output")),
            "the tool output reached {}",
            backend.name()
        );
        let prompt = records
            .iter()
            .find(|r| {
                attr_text(&r.attributes, "event.name").as_deref() == Some("codex.user_prompt")
            })
            .expect("prompt");
        assert_eq!(
            attr_text(&prompt.attributes, "prompt").as_deref(),
            Some("Run the deploy check please")
        );
        assert_eq!(
            attr_text(&prompt.attributes, "app.version").as_deref(),
            Some(version.version()),
            "the session ran the Codex version asked for"
        );
    }
    // Same items at both backends.
    assert_eq!(
        setup.grpc_backend.span_count(),
        setup.http_backend.span_count()
    );
    assert_eq!(
        setup.grpc_backend.log_record_count(),
        setup.http_backend.log_record_count()
    );
    assert_eq!(
        setup.grpc_backend.data_point_count(),
        setup.http_backend.data_point_count()
    );
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_169_over_otlp_http_binary_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_169, OtelProtocol::HttpBinary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_169_over_otlp_http_json_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_169, OtelProtocol::HttpJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_169_over_otlp_grpc_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_169, OtelProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_171_over_otlp_http_binary_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_171, OtelProtocol::HttpBinary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_171_over_otlp_http_json_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_171, OtelProtocol::HttpJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_0_171_over_otlp_grpc_reaches_both_backends() {
    session_reaches_both_backends(CodexVersion::V0_171, OtelProtocol::Grpc).await;
}
