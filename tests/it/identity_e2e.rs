//! Identity on metrics through the real binary: two people run real Codex 0.171.0 sessions with
//! their own receiver tokens; the token's `user`/`team` attributes (`auth.<key>` metadata) reach
//! the resource and every data point of Codex's own metrics (`team` with `from_metadata` and
//! `metric_points`), and the usage counters of the `codex_usage` connector, exactly per user —
//! though Codex sends no identity on its metrics (it is not logged in here).

use crate::codex_intelligence::latest_total;
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::fixtures::{self, attr_text};
use crate::support::gateway::{self, Rig};
use crate::support::mock_llm::{MockLlm, Script, Usage};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn points_of(got: &[ExportMetricsServiceRequest], user: &str) -> usize {
    let mut n = 0;
    for rm in got.iter().flat_map(|r| &r.resource_metrics) {
        let res = rm
            .resource
            .as_ref()
            .map(|r| &r.attributes[..])
            .unwrap_or(&[]);
        if attr_text(res, "user").as_deref() != Some(user) {
            continue;
        }
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let (name, mut m) = (m.name.clone(), m.clone());
            processors::for_each_point_attributes(&mut m, |a| {
                assert_eq!(attr_text(a, "user").as_deref(), Some(user), "{name}");
                n += 1;
            });
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_token_identity_reaches_codex_metrics_and_usage_counters_per_user() {
    let Rig {
        backend,
        mut gw,
        http,
        ..
    } = gateway::rig(
        "    auth:
      bearer_tokens:
        - { token: alice-token-0123456789, attributes: { user: alice, team: payments } }
        - { token: bob-token-0123456789, attributes: { user: bob, team: search } }",
        r#"processors:
  codex: {}
  redaction: { preset: codex, hash_key: "0123456789abcdef0123456789abcdef" }
  team:
    from_metadata: { auth.user: user, auth.team: team }
    metric_points: true
    default: {}
connectors:
  codex_usage: { dimensions: [team, user] }"#,
        "    metrics: { receivers: [otlp], processors: [codex, redaction, team], exporters: [otlp] }
    logs: { receivers: [otlp], processors: [codex, redaction, team], exporters: [otlp, codex_usage] }
    metrics/usage: { receivers: [codex_usage], exporters: [otlp] }",
    )
    .await;
    let mut script = Script::with_tool_calls(["echo who"], "Done.");
    script.usage = Usage {
        input: 3_000,
        cached: 1_024,
        output: 200,
        reasoning: 50,
    };
    let llm = MockLlm::start(script.clone()).await;
    for (token, runs) in [("alice-token-0123456789", 2), ("bob-token-0123456789", 1)] {
        for _ in 0..runs {
            let mut s = CodexSession::new(
                CodexVersion::V0_171,
                "Who am I",
                &llm.base_url(),
                OtelProtocol::HttpBinary,
                &format!("http://127.0.0.1:{http}"),
            );
            s.extra_env = vec![(
                "OTEL_EXPORTER_OTLP_HEADERS".into(),
                format!("authorization=Bearer%20{token}"),
            )];
            s.run().await.assert_success();
        }
    }
    // Two model steps per session: input 3000 + 1, then 3000 + 2.
    let per_session = 2 * 3_000 + 3;
    let ok = backend
        .wait_for(
            |b| {
                let got = b.received_metrics();
                latest_by(&got, "alice") == Some(2 * per_session)
                    && latest_by(&got, "bob") == Some(per_session)
                    && points_of(&got, "bob") > 0
            },
            WAIT,
        )
        .await;
    let got = backend.received_metrics();
    assert!(
        ok,
        "alice {:?}, bob {:?}\n{}",
        latest_by(&got, "alice"),
        latest_by(&got, "bob"),
        gw.output_report()
    );
    // Codex's own metrics: every point of each user's resources carries that user.
    assert!(points_of(&got, "alice") > 0);
    assert!(points_of(&got, "bob") > 0);
    // Team from the token too, on the usage counters' points.
    assert_eq!(
        latest_total(&got, "codex_tokens", "team", "search"),
        latest_total(&got, "codex_tokens", "user", "bob")
    );
    assert!(gw.stop().await.success());
}

/// The latest `codex_tokens{token_type=input, user}` total.
fn latest_by(got: &[ExportMetricsServiceRequest], user: &str) -> Option<i64> {
    let mut last = None;
    for m in fixtures::all_metrics(got)
        .into_iter()
        .filter(|m| m.name == "codex_tokens")
    {
        if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) = &m.data {
            for p in &s.data_points {
                if attr_text(&p.attributes, "user").as_deref() == Some(user)
                    && attr_text(&p.attributes, "token_type").as_deref() == Some("input")
                {
                    if let Some(
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v),
                    ) = p.value
                    {
                        last = Some(v);
                    }
                }
            }
        }
    }
    last
}
