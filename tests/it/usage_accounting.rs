//! Exact usage accounting of the `codex_usage` connector through the real binary and the real
//! Codex CLI: running totals that neither split nor double. Every expected number is computed
//! from the model script (the mock model reports the script's token usage, `input + n` at step
//! `n`), or from the fixture's own `model-script.json`.
//!
//! - two sessions, whose Codex processes list their resource attributes in different orders,
//!   add up in one stream per token type;
//! - the same logs body delivered twice (a client retry) is counted once;
//! - a `SIGHUP` reload between two sessions does not reset the totals;
//! - with `storage`, the totals (and their start time) continue after a restart; without it a
//!   restart starts them over with a new start time.

use crate::codex_intelligence::latest_total;
use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::fixtures::{self, attr_text};
use crate::support::gateway::{self, Gateway, Rig};
use crate::support::mock_llm::{MockLlm, Script, Usage};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Token totals `[input, cached_input, output, reasoning_output]`.
type Tokens = [i64; 4];

const TYPES: [&str; 4] = ["input", "cached_input", "output", "reasoning_output"];

/// What one session of `script` reports: one model step per tool call plus the answer, step `n`
/// with `input + n` input tokens.
fn session_tokens(script: &Script) -> Tokens {
    let steps = script.tool_calls.len() as i64 + 1;
    let u = &script.usage;
    [
        steps * u.input as i64 + steps * (steps + 1) / 2,
        steps * u.cached as i64,
        steps * u.output as i64,
        steps * u.reasoning as i64,
    ]
}

fn add(a: Tokens, b: Tokens) -> Tokens {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}

/// The top-level sections: `codex`, and `codex_usage` with `connector` (YAML indented by 4)
/// added to its config.
fn sections(connector: &str) -> String {
    format!(
        "processors:\n  codex: {{}}\nconnectors:\n  codex_usage:\n    dimensions: [team, project]\n{connector}"
    )
}

/// A fresh folder and the `storage:` line (indented by 4) keeping the state there.
fn store_in_tempdir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!(
        "    storage: {{ directory: \"{}\", interval: 1s }}",
        dir.path().display()
    );
    (dir, store)
}

/// logs → `codex` → [backend, codex_usage]; usage metrics → backend.
const PIPELINES: &str =
    "    logs: { receivers: [otlp], processors: [codex], exporters: [otlp, codex_usage] }
    metrics/usage: { receivers: [codex_usage], exporters: [otlp] }";

async fn rig(connector: &str) -> Rig {
    gateway::rig("", &sections(connector), PIPELINES).await
}

/// The latest cumulative `codex_tokens` totals the backend holds.
fn totals(got: &[ExportMetricsServiceRequest]) -> Tokens {
    TYPES.map(|t| latest_total(got, "codex_tokens", "token_type", t) as i64)
}

/// `(start, time)` of every `codex_tokens` point with `token_type` = `input`, in arrival order.
fn input_point_times(got: &[ExportMetricsServiceRequest]) -> Vec<(u64, u64)> {
    fixtures::all_metrics(got)
        .into_iter()
        .filter(|m| m.name == "codex_tokens")
        .flat_map(|m| match &m.data {
            Some(metric::Data::Sum(s)) => s.data_points.clone(),
            _ => Vec::new(),
        })
        .filter(|p| attr_text(&p.attributes, "token_type").as_deref() == Some("input"))
        .map(|p| (p.start_time_unix_nano, p.time_unix_nano))
        .collect()
}

async fn wait_totals(rig: &Rig, want: Tokens) {
    let ok = rig
        .backend
        .wait_for(|b| totals(&b.received_metrics()) == want, WAIT)
        .await;
    assert!(
        ok,
        "want {want:?}, backend holds {:?}\n{}",
        totals(&rig.backend.received_metrics()),
        rig.gw.output_report()
    );
}

/// Runs one real Codex session of `script` into the rig.
async fn session(rig: &Rig, llm: &MockLlm, script: &Script) {
    llm.set_script(script.clone());
    CodexSession::new(
        CodexVersion::V0_171,
        "Check the build",
        &llm.base_url(),
        OtelProtocol::HttpBinary,
        &format!("http://127.0.0.1:{}", rig.http),
    )
    .run()
    .await
    .assert_success();
}

fn script(tool_calls: &[&str], usage: Usage) -> Script {
    let mut s = Script::with_tool_calls(tool_calls.iter().copied(), "Done.");
    s.usage = usage;
    s
}

fn first_script() -> Script {
    script(
        &["echo one", "false"],
        Usage {
            input: 5_321,
            cached: 4_096,
            output: 377,
            reasoning: 128,
        },
    )
}

fn second_script() -> Script {
    script(
        &["echo two"],
        Usage {
            input: 10_007,
            cached: 2_048,
            output: 91,
            reasoning: 13,
        },
    )
}

/// The resource attribute keys, in order, of the Codex logs requests the backend got.
fn resource_orders(b: &FakeBackend) -> Vec<Vec<String>> {
    b.received_logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .filter_map(|rl| rl.resource.as_ref())
        .map(|r| r.attributes.iter().map(|kv| kv.key.clone()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_listing_their_resource_in_different_orders_add_up_in_one_stream() {
    let mut rig = rig("").await;
    let llm = MockLlm::start(first_script()).await;
    // Each Codex process orders its resource attributes its own way (a hash map); run sessions
    // until two orders differ (almost always the second), keeping the running sum.
    let mut want = [0; 4];
    let mut orders: Vec<Vec<String>> = Vec::new();
    let mut ran = 0;
    for (i, s) in [
        first_script(),
        second_script(),
        first_script(),
        second_script(),
    ]
    .iter()
    .enumerate()
    {
        session(&rig, &llm, s).await;
        ran += 1;
        want = add(want, session_tokens(s));
        wait_totals(&rig, want).await;
        orders = resource_orders(&rig.backend);
        orders.dedup();
        if i >= 1 && orders.len() > 1 {
            break;
        }
    }
    assert!(
        orders.len() > 1,
        "the sessions' resource orders: {orders:?}"
    );
    let got = rig.backend.received_metrics();
    // One stream per token type all along: every point has the first point's start time.
    let times = input_point_times(&got);
    assert!(times.len() >= 2, "{times:?}");
    assert!(times.iter().all(|(s, _)| *s == times[0].0), "{times:?}");
    println!("running sum after {ran} sessions: {want:?}");
    assert!(rig.gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_logs_body_delivered_twice_is_counted_once() {
    let mut rig = rig("").await;
    // A real Codex 0.169.0 body and the script its model followed.
    let f = fixtures::fixture("failing-tool-loop-protobuf", "005_logs.pb");
    let script: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            fixtures::fixtures_dir().join("failing-tool-loop-protobuf/model-script.json"),
        )
        .expect("model script"),
    )
    .expect("json");
    let u = &script["usage"];
    let steps = script["tool_calls"].as_array().expect("calls").len() as i64 + 1;
    let n = |k: &str| u[k].as_i64().expect("usage number");
    let want = [
        steps * n("input") + steps * (steps + 1) / 2,
        steps * n("cached"),
        steps * n("output"),
        steps * n("reasoning"),
    ];
    assert_eq!(want, [720_036, 160_000, 24_000, 12_000]);
    let base = format!("http://127.0.0.1:{}", rig.http);
    for _ in 0..2 {
        let (status, _, _) = gateway::post_fixture(&base, &f).await;
        assert_eq!(status, 200);
    }
    wait_totals(&rig, want).await;
    let sent = fixtures::logs_of(std::slice::from_ref(&f));
    let usage_records = fixtures::all_log_records(&sent)
        .into_iter()
        .filter(|r| {
            attr_text(&r.attributes, "event.kind").as_deref() == Some("response.completed")
                && attr_text(&r.attributes, "input_token_count").is_some()
        })
        .count();
    assert_eq!(usage_records, steps as usize);
    crate::bad_requests::wait_for_metrics(
        rig.admin,
        &[format!(
            "gateway_processor_events_total{{processor=\"codex_usage\",event=\"duplicates_skipped\",rule=\"codex.sse_event\"}} {usage_records}"
        )],
    )
    .await;
    // Still once, a while later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(totals(&rig.backend.received_metrics()), want);
    assert!(rig.gw.stop().await.success());
}

fn sighup(gw: &Gateway) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .expect("run kill -HUP");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_between_two_sessions_keeps_the_running_totals() {
    // With a store, so the reload also hands the state file (and its lock) to the new graph.
    let (_dir, store) = store_in_tempdir();
    let mut rig = rig(&store).await;
    let llm = MockLlm::start(first_script()).await;
    session(&rig, &llm, &first_script()).await;
    let first = session_tokens(&first_script());
    wait_totals(&rig, first).await;
    let start = input_point_times(&rig.backend.received_metrics())[0].0;

    // A changed connector config (a larger stream bound) reloads the whole graph.
    let yaml = gateway::rig_config(
        rig.http,
        rig.admin,
        &rig.backend.endpoint(),
        "",
        &sections(&format!("{store}\n    max_streams: 20000")),
        PIPELINES,
    );
    std::fs::write(rig.gw.config_path(), yaml).expect("rewrite config");
    sighup(&rig.gw);
    assert!(
        rig.gw.wait_for_output("config reloaded", WAIT).await,
        "{}",
        rig.gw.output_report()
    );
    session(&rig, &llm, &second_script()).await;
    wait_totals(&rig, add(first, session_tokens(&second_script()))).await;
    let times = input_point_times(&rig.backend.received_metrics());
    assert!(
        times.iter().all(|(s, _)| *s == start),
        "no reset: {times:?}"
    );
    assert!(rig.gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_store_the_totals_continue_after_a_restart_and_without_one_they_reset() {
    let (dir, store) = store_in_tempdir();
    let llm = MockLlm::start(first_script()).await;
    let first = session_tokens(&first_script());
    let second = session_tokens(&second_script());

    let mut a = rig(&store).await;
    session(&a, &llm, &first_script()).await;
    wait_totals(&a, first).await;
    let start = input_point_times(&a.backend.received_metrics())[0].0;
    assert!(a.gw.stop().await.success(), "{}", a.gw.output_report());
    let file = dir.path().join("codex_usage.json");
    assert!(file.is_file(), "the state is written at shutdown");

    // Restarted with the store: the totals go on, with their first start time.
    let mut b = rig(&store).await;
    session(&b, &llm, &second_script()).await;
    wait_totals(&b, add(first, second)).await;
    let times = input_point_times(&b.backend.received_metrics());
    assert!(times.iter().all(|(s, _)| *s == start), "{times:?}");
    assert!(b.gw.stop().await.success());

    // Restarted without it: a counter reset, with a new start time.
    let mut c = rig("").await;
    session(&c, &llm, &second_script()).await;
    wait_totals(&c, second).await;
    let times = input_point_times(&c.backend.received_metrics());
    assert!(
        times.iter().all(|(s, _)| *s > start),
        "new start time: {times:?} vs {start}"
    );
    assert!(c.gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_store_is_refused_and_a_stale_lock_is_taken_over() {
    let (dir, store) = store_in_tempdir();
    let mut a = rig(&store).await;
    let (http, admin) = (gateway::free_port(), gateway::free_port());
    let yaml = gateway::rig_config(
        http,
        admin,
        &a.backend.endpoint(),
        "",
        &sections(&store),
        PIPELINES,
    );
    let file = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(file.path(), yaml).expect("write config");
    let mut child = std::process::Command::new(gateway::GATEWAY_BIN)
        .args(["run", "--config"])
        .arg(file.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("in use by another codex-otel-gateway process"),
        "{stderr}"
    );
    assert!(a.gw.stop().await.success());
    // A lock left by a process that is gone (a crash) is taken over.
    let lock = dir.path().join("codex_usage.json.lock");
    assert!(!lock.exists(), "a clean stop removes the lock");
    std::fs::write(&lock, "999999999").expect("write a stale lock");
    let mut c = rig(&store).await;
    assert!(
        c.gw.wait_for_output("taking over the usage state lock", WAIT)
            .await,
        "{}",
        c.gw.output_report()
    );
    assert!(c.gw.stop().await.success());
}
