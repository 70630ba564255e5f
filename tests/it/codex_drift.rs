//! Codex drift through the real binary: scripted sessions of a real Codex CLI (each pinned
//! version, or any version `scripts/codex-drift VERSION` installed) go through a gateway
//! without processors to an in-test backend; every event, metric, span and attribute name that
//! arrives is compared with what `docs/metric-names.md`, the `codex` normaliser and the
//! codex-lean filter lists know (see [`crate::support::drift`]).
//!
//! The sessions: `codex exec` over OTLP/HTTP protobuf with a succeeding and a failing tool call
//! (`log_user_prompt = true`); over OTLP/HTTP JSON logged in to a fake ChatGPT account
//! (`user.email`, `user.account_id`, `auth_mode`); over OTLP/gRPC with the model answering 500
//! then 429 before it succeeds; and, when asked (`CODEX_DRIFT_TURN_COST=1`, about 160 s),
//! one turn of `codex app-server` whose cost the mock model prices, so Codex exports
//! `codex.turn.cost_microusd` and `codex.turn_cost`.
//!
//! `UPDATE_DOCS=1 cargo test --test it codex_drift::pinned` rewrites the generated inventory from
//! the pinned versions' sessions plus the committed captures (`tests/fixtures`).

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, Login, OtelProtocol};
use crate::support::drift::{self, Inventory, Known};
use crate::support::fixtures::{self, Payload};
use crate::support::gateway::{free_port, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The price the mock model gives every turn in the turn-cost session (USD).
pub const TURN_COST_USD: &str = "0.0123456";

/// What one drift session delivered (its requests, by signal).
#[derive(Default)]
pub struct Delivered {
    /// The session's name (`exec-http-binary`, `exec-http-json-logged-in`, `exec-grpc-retries`,
    /// `app-server-turn-cost`).
    pub name: &'static str,
    /// Logs requests.
    pub logs: Vec<opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest>,
    /// Metrics requests.
    pub metrics:
        Vec<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
    /// Trace requests.
    pub traces: Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
}

/// What a set of drift sessions delivered, session by session, and their names.
pub struct Observed {
    /// Every name, over all sessions.
    pub inventory: Inventory,
    /// Per session.
    pub sessions: Vec<Delivered>,
}

fn pass_through_config(grpc: u16, http: u16, admin: u16, backend: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  otlp: {{ endpoint: "{backend}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlp] }}
    metrics: {{ receivers: [otlp], exporters: [otlp] }}
    traces: {{ receivers: [otlp], exporters: [otlp] }}
"#
    )
}

/// Waits until the backend got nothing new for a second (what a finished session exported
/// has arrived), then takes what arrived since `from` (counts of logs, metrics, traces requests).
async fn settle(backend: &FakeBackend, name: &'static str, from: &mut [usize; 3]) -> Delivered {
    let mut last = backend.request_count();
    let mut quiet = std::time::Instant::now();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while quiet.elapsed() < Duration::from_secs(1) && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = backend.request_count();
        if now != last {
            last = now;
            quiet = std::time::Instant::now();
        }
    }
    let (logs, metrics, traces) = (
        backend.received_logs(),
        backend.received_metrics(),
        backend.received_traces(),
    );
    let d = Delivered {
        name,
        logs: logs[from[0]..].to_vec(),
        metrics: metrics[from[1]..].to_vec(),
        traces: traces[from[2]..].to_vec(),
    };
    *from = [logs.len(), metrics.len(), traces.len()];
    d
}

/// Runs the drift sessions of Codex `version` (or of the CLI at `bin`) through a gateway.
pub async fn observe(version: CodexVersion, bin: Option<PathBuf>, turn_cost: bool) -> Observed {
    let backend = FakeBackend::grpc().await;
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = pass_through_config(grpc, http, admin, &backend.endpoint());
    let mut gw = Gateway::start(&yaml, &[grpc, http, admin]).await;
    let llm = MockLlm::start(Script::default()).await;
    let http_base = format!("http://127.0.0.1:{http}");
    let grpc_base = format!("http://127.0.0.1:{grpc}");
    let session = |protocol, base: &str| {
        let mut s = CodexSession::new(version, "Check the build", &llm.base_url(), protocol, base);
        s.bin = bin.clone();
        s
    };
    let mut from = [0; 3];
    let mut sessions = Vec::new();

    llm.set_script(Script::with_tool_calls(
        ["echo drift-ok", "false"],
        "Checked.",
    ));
    session(OtelProtocol::HttpBinary, &http_base)
        .run()
        .await
        .assert_success();
    sessions.push(settle(&backend, "exec-http-binary", &mut from).await);

    llm.set_script(Script::with_tool_calls(["ls"], "Listed."));
    let mut logged_in = session(OtelProtocol::HttpJson, &http_base);
    logged_in.log_user_prompt = false;
    logged_in.login = Some(Login {
        email: "drift@acme.test".into(),
        account_id: "acct-drift".into(),
    });
    logged_in.run().await.assert_success();
    sessions.push(settle(&backend, "exec-http-json-logged-in", &mut from).await);

    let mut retries = Script::with_tool_calls(["echo retry-ok"], "Recovered.");
    retries.fail_first = vec![500, 429];
    llm.set_script(retries);
    session(OtelProtocol::Grpc, &grpc_base)
        .run()
        .await
        .assert_success();
    sessions.push(settle(&backend, "exec-grpc-retries", &mut from).await);

    if turn_cost {
        let mut priced = Script::with_tool_calls(["echo priced"], "Priced.");
        priced.turn_cost_usd = Some(TURN_COST_USD.into());
        llm.set_script(priced);
        let done = turn_cost_polled(&llm, llm.requests_to("/turn-costs"));
        session(OtelProtocol::HttpBinary, &http_base)
            .run_app_server_turn(Duration::from_secs(240), done)
            .await
            .assert_success();
        sessions.push(settle(&backend, "app-server-turn-cost", &mut from).await);
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    let mut inventory = Inventory::default();
    for d in &sessions {
        d.logs.iter().for_each(|r| inventory.add_logs(r));
        d.metrics.iter().for_each(|r| inventory.add_metrics(r));
        d.traces.iter().for_each(|r| inventory.add_traces(r));
    }
    Observed {
        inventory,
        sessions,
    }
}

/// A condition that holds a few seconds after Codex asked the mock model for turn costs twice
/// more than `before` (the start-up probe, then the first poll, which records the cost).
fn turn_cost_polled(llm: &MockLlm, before: usize) -> impl Fn() -> bool + Send + 'static {
    let llm = llm.handle();
    let since = std::sync::Mutex::new(None::<std::time::Instant>);
    move || {
        if llm.requests_to("/turn-costs") < before + 2 {
            return false;
        }
        let mut since = since.lock().unwrap();
        since.get_or_insert_with(std::time::Instant::now).elapsed() >= Duration::from_secs(3)
    }
}

/// Writes each session's requests as a fixture folder `dir/<session>/` (`NNN_<signal>.pb` +
/// `index.jsonl`).
pub fn save(observed: &Observed, dir: &Path) {
    for d in &observed.sessions {
        let dir = dir.join(d.name);
        std::fs::create_dir_all(&dir).expect("create the capture folder");
        let mut index = String::new();
        let mut n = 0;
        let mut write = |signal: &str, body: Vec<u8>| {
            n += 1;
            let file = format!("{n:03}_{signal}.pb");
            std::fs::write(dir.join(&file), &body).expect("write a capture");
            index.push_str(
                &serde_json::json!({
                    "file": file,
                    "path": format!("/v1/{signal}"),
                    "content_type": fixtures::PROTOBUF,
                    "bytes": body.len(),
                })
                .to_string(),
            );
            index.push('\n');
        };
        d.logs.iter().for_each(|r| write("logs", r.encode_to_vec()));
        d.metrics
            .iter()
            .for_each(|r| write("metrics", r.encode_to_vec()));
        d.traces
            .iter()
            .for_each(|r| write("traces", r.encode_to_vec()));
        std::fs::write(dir.join("index.jsonl"), index).expect("write index.jsonl");
    }
}

/// The inventory of every committed capture: `tests/fixtures/*` (0.169.0) and
/// `tests/fixtures/codex-*/*`.
fn fixtures_inventory() -> Inventory {
    let mut inv = Inventory::default();
    let mut add = |f: &fixtures::Fixture| match f.decode() {
        Payload::Logs(r) => inv.add_logs(&r),
        Payload::Metrics(r) => inv.add_metrics(&r),
        Payload::Traces(r) => inv.add_traces(&r),
    };
    fixtures::all_fixtures().iter().for_each(&mut add);
    for (dir, session) in fixtures::versioned_sessions() {
        fixtures::session_fixtures_in(&dir, &session)
            .iter()
            .for_each(&mut add);
    }
    inv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_codex_versions_send_no_name_the_docs_normaliser_or_filters_do_not_know() {
    let mut inv = fixtures_inventory();
    for v in CodexVersion::ALL {
        let observed = observe(v, None, false).await;
        let versions = observed.inventory.versions();
        assert!(
            versions.contains(v.version()),
            "{v:?} reported {versions:?}"
        );
        inv.merge(&observed.inventory);
    }
    let doc_path = drift::docs_path();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let doc = std::fs::read_to_string(&doc_path).expect("read docs");
        let section = drift::render(
            &inv,
            "the drift sessions of `tests/it/codex_drift.rs` and the captures in `tests/fixtures`",
        );
        std::fs::write(&doc_path, drift::splice(&doc, &section)).expect("write docs");
        return;
    }
    let unknown = drift::unknown(&inv, &Known::load());
    assert!(
        unknown.is_empty(),
        "{}\nDocument them (UPDATE_DOCS=1 cargo test --test it codex_drift::pinned rewrites the inventory)",
        drift::report("the pinned Codex versions", &inv, &unknown)
    );
}

/// `scripts/codex-drift VERSION`: the report for the CLI at `$CODEX_DRIFT_BIN`; fails when it
/// sends anything unknown. `CODEX_DRIFT_TURN_COST=1` adds the turn-cost session;
/// `CODEX_DRIFT_SAVE=DIR` keeps what arrived as a fixture folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by scripts/codex-drift"]
async fn drift_report_for_codex_drift_bin() {
    let bin = PathBuf::from(
        std::env::var_os("CODEX_DRIFT_BIN").expect("CODEX_DRIFT_BIN: the Codex CLI to check"),
    );
    let turn_cost = std::env::var_os("CODEX_DRIFT_TURN_COST").is_some_and(|v| v == "1");
    let observed = observe(CodexVersion::V0_171, Some(bin.clone()), turn_cost).await;
    if let Some(dir) = std::env::var_os("CODEX_DRIFT_SAVE").filter(|d| !d.is_empty()) {
        save(&observed, Path::new(&dir));
    }
    let unknown = drift::unknown(&observed.inventory, &Known::load());
    let report = drift::report(&bin.display().to_string(), &observed.inventory, &unknown);
    println!("{report}");
    assert!(unknown.is_empty(), "{} unknown names", unknown.len());
}
