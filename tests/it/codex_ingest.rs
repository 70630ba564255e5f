//! `codex-otel-gateway ingest`: token usage from real Codex session files (recorded from the real
//! Codex CLI against the scripted model, see `tests/fixtures/codex-sessions/README.md`) reaches
//! a backend through a running gateway with the same totals as the files' last
//! `total_token_usage`; a second run sends nothing; a grown file sends only its new part; a config's
//! pipelines (with a processor) work in-process; unreadable paths fail the run, corrupt lines do
//! not.

use crate::support::backends::FakeBackend;
use crate::support::codex::CodexSession;
use crate::support::fixtures::{all_log_records, all_metrics, attr_text};
use crate::support::gateway::{free_port, GATEWAY_BIN};
use crate::support::mock_llm::{MockLlm, Script, Usage};
use crate::{start_fan_out, FanOut};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Token totals in Codex's field order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    input: u64,
    cached: u64,
    output: u64,
    reasoning: u64,
    total: u64,
}

impl Totals {
    fn add(&mut self, o: Totals) {
        self.input += o.input;
        self.cached += o.cached;
        self.output += o.output;
        self.reasoning += o.reasoning;
        self.total += o.total;
    }

    fn from_usage(v: &Value) -> Totals {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Totals {
            input: n("input_tokens"),
            cached: n("cached_input_tokens"),
            output: n("output_tokens"),
            reasoning: n("reasoning_output_tokens"),
            total: n("total_tokens"),
        }
    }
}

fn sessions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codex-sessions")
}

/// The recorded rollout files, sorted.
fn recorded_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read fixtures dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&sessions_dir(), &mut out);
    out.sort();
    assert!(!out.is_empty(), "no recorded session files");
    out
}

/// Whether a rollout line is a `token_count` event with totals.
fn token_count_total(line: &str) -> Option<Totals> {
    let v: Value = serde_json::from_str(line).ok()?;
    (v["type"] == "event_msg" && v["payload"]["type"] == "token_count")
        .then(|| v["payload"]["info"]["total_token_usage"].clone())
        .filter(Value::is_object)
        .map(|u| Totals::from_usage(&u))
}

/// The last `total_token_usage` of a rollout text (read independently of the gateway's parser).
fn final_total(text: &str) -> Totals {
    text.lines()
        .rev()
        .find_map(token_count_total)
        .unwrap_or_default()
}

fn recorded_grand_total() -> Totals {
    let mut t = Totals::default();
    for f in recorded_files() {
        t.add(final_total(&std::fs::read_to_string(f).unwrap()));
    }
    t
}

/// Token totals in the usage log records a backend received.
fn logged_totals(backend: &FakeBackend) -> Totals {
    let logs = backend.received_logs();
    let mut t = Totals::default();
    for r in all_log_records(&logs) {
        if attr_text(&r.attributes, "event.name").as_deref() != Some("codex.ingest.token_usage") {
            continue;
        }
        let n = |k: &str| {
            attr_text(&r.attributes, k)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{k} missing on a usage record"))
        };
        t.add(Totals {
            input: n("input_token_count"),
            cached: n("cached_token_count"),
            output: n("output_token_count"),
            reasoning: n("reasoning_token_count"),
            total: n("total_token_count"),
        });
    }
    t
}

/// Token totals in the `codex.ingest.token_usage` delta sum points a backend received.
fn metric_totals(backend: &FakeBackend) -> Totals {
    let requests = backend.received_metrics();
    let mut t = Totals::default();
    for m in all_metrics(&requests) {
        if m.name != "codex.ingest.token_usage" {
            continue;
        }
        let Some(metric::Data::Sum(sum)) = &m.data else {
            panic!("codex.ingest.token_usage is a sum")
        };
        assert_eq!(sum.aggregation_temporality, 1, "delta temporality");
        assert!(sum.is_monotonic);
        for p in &sum.data_points {
            let Some(number_data_point::Value::AsInt(v)) = p.value else {
                panic!("integer points")
            };
            let v = v as u64;
            match attr_text(&p.attributes, "token_type").as_deref() {
                Some("input") => t.input += v,
                Some("cached_input") => t.cached += v,
                Some("output") => t.output += v,
                Some("reasoning_output") => t.reasoning += v,
                Some("total") => t.total += v,
                other => panic!("unexpected token_type {other:?}"),
            }
        }
    }
    t
}

/// Runs `codex-otel-gateway ingest ARGS...` with a clean environment for the state location:
/// (exit code, stderr).
fn ingest(args: &[&str]) -> (i32, String) {
    let out = Command::new(GATEWAY_BIN)
        .arg("ingest")
        .arg("--no-progress")
        .args(args)
        .env_remove("XDG_STATE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run ingest");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Records real Codex sessions: the rollout files hold `token_count` totals equal to what the
/// scripted model reported. With `CODEX_RECORD_SESSIONS=1` the files are copied to
/// `tests/fixtures/codex-sessions/` (that is how the committed fixtures were made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_sessions_write_rollout_files_whose_totals_match_the_model_usage() {
    let sessions: [(&[&str], Usage); 2] = [
        (&["echo ingest-fixture-one"], Usage::default()),
        (
            &["echo alpha", "echo beta", "echo gamma"],
            Usage {
                input: 5000,
                cached: 4096,
                output: 300,
                reasoning: 120,
            },
        ),
    ];
    for (tools, usage) in sessions {
        let mut script = Script::with_tool_calls(tools.iter().copied(), "All done.");
        script.usage = usage.clone();
        let llm = MockLlm::start(script).await;
        // Telemetry off: the session files are what this test is about.
        let session = CodexSession::new(
            crate::support::codex::CodexVersion::V0_169,
            "Summarise the repository",
            &llm.base_url(),
            crate::support::codex::OtelProtocol::HttpBinary,
            "http://127.0.0.1:9",
        );
        let run = session.run_with_otel_toml("[otel]\n").await;
        run.assert_success();
        let sessions_root = run.codex_home.path().join("sessions");
        let mut files = Vec::new();
        let mut stack = vec![sessions_root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("sessions dir") {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        assert_eq!(files.len(), 1, "one rollout file: {files:?}");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let steps = tools.len() as u64 + 1;
        let input: u64 = (1..=steps).map(|n| usage.input + n).sum();
        assert_eq!(
            final_total(&text),
            Totals {
                input,
                cached: usage.cached * steps,
                output: usage.output * steps,
                reasoning: usage.reasoning * steps,
                total: input + usage.output * steps,
            }
        );
        if std::env::var_os("CODEX_RECORD_SESSIONS").is_some() {
            let rel = files[0].strip_prefix(&sessions_root).unwrap();
            let dest = sessions_dir().join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&files[0], &dest).unwrap();
            eprintln!("recorded {}", dest.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingesting_recorded_sessions_delivers_their_final_totals_once() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state.json");
    let expected = recorded_grand_total();
    assert!(expected.input > 0);
    let deltas: usize = recorded_files()
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let totals: Vec<_> = text.lines().filter_map(token_count_total).collect();
            totals.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!totals.is_empty())
        })
        .sum();

    let (code, stderr) = ingest(&[
        "--endpoint",
        &setup.http_base(),
        "--state",
        path_str(&state),
        path_str(&sessions_dir()),
    ]);
    assert_eq!(code, 0, "{stderr}\n{}", setup.gateway.output_report());
    assert!(
        state.exists(),
        "the state is saved after the acknowledgement"
    );
    for backend in [&setup.http_backend, &setup.grpc_backend] {
        let ok = backend
            .wait_for(
                |b| logged_totals(b) == expected && metric_totals(b) == expected,
                WAIT,
            )
            .await;
        assert!(
            ok,
            "{}: logs {:?}, metrics {:?}, expected {expected:?}\n{stderr}",
            backend.name(),
            logged_totals(backend),
            metric_totals(backend)
        );
    }
    let records = setup.http_backend.log_record_count();
    assert_eq!(records, deltas, "one record per usage delta");
    // Content-free: no prompt, model output or tool text.
    let logs = setup.http_backend.received_logs();
    for r in all_log_records(&logs) {
        assert!(r.body.is_none());
        for kv in &r.attributes {
            let v = attr_text(std::slice::from_ref(kv), &kv.key).unwrap_or_default();
            assert!(
                !v.contains("Summarise") && !v.contains("All done") && !v.contains("echo"),
                "{} = {v}",
                kv.key
            );
        }
        assert!(attr_text(&r.attributes, "conversation.id").is_some());
        assert_eq!(
            attr_text(&r.attributes, "model").as_deref(),
            Some("gpt-5.1-codex")
        );
    }

    // Second run: nothing new.
    let points = setup.http_backend.data_point_count();
    let requests = setup.http_backend.request_count();
    let (code, stderr) = ingest(&[
        "--endpoint",
        &setup.http_base(),
        "--state",
        path_str(&state),
        path_str(&sessions_dir()),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sent 0 usage record(s)"), "{stderr}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(setup.http_backend.request_count(), requests);
    assert_eq!(setup.http_backend.log_record_count(), records);
    assert_eq!(setup.http_backend.data_point_count(), points);
    assert_eq!(logged_totals(&setup.http_backend), expected);
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grown_session_file_sends_only_its_new_usage() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.json");
    // The recorded session with the most token_count lines, cut after its second one.
    let source = recorded_files()
        .into_iter()
        .max_by_key(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter(|l| token_count_total(l).is_some())
                .count()
        })
        .unwrap();
    let text = std::fs::read_to_string(&source).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| token_count_total(l).is_some())
        .nth(1)
        .map(|(i, _)| i + 1)
        .expect("two token_count lines");
    let head: String = lines[..cut].iter().map(|l| format!("{l}\n")).collect();
    let tail: String = lines[cut..].iter().map(|l| format!("{l}\n")).collect();
    let file = work
        .path()
        .join("sessions/2026/11/21")
        .join(source.file_name().unwrap());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &head).unwrap();
    let first = final_total(&head);
    let last = final_total(&text);
    assert!(last.input > first.input);
    let sessions = work.path().join("sessions");
    let args = [
        "--endpoint",
        &setup.http_base(),
        "--state",
        path_str(&state),
        path_str(&sessions),
    ];

    let (code, stderr) = ingest(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        setup
            .http_backend
            .wait_for(
                |b| logged_totals(b) == first && metric_totals(b) == first,
                WAIT
            )
            .await,
        "first part: {:?} / {:?}, expected {first:?}",
        logged_totals(&setup.http_backend),
        metric_totals(&setup.http_backend)
    );
    let records_before = setup.http_backend.log_record_count();

    // Codex appends the rest of the session.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, tail.as_bytes()).unwrap();
    drop(f);
    let (code, stderr) = ingest(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        setup
            .http_backend
            .wait_for(
                |b| logged_totals(b) == last && metric_totals(b) == last,
                WAIT
            )
            .await,
        "after the append: {:?} / {:?}, expected {last:?} (only the new {:?} may be added)",
        logged_totals(&setup.http_backend),
        metric_totals(&setup.http_backend),
        Totals {
            input: last.input - first.input,
            ..Totals::default()
        }
    );
    let new_records = setup.http_backend.log_record_count() - records_before;
    let new_deltas = tail
        .lines()
        .filter(|l| token_count_total(l).is_some())
        .count();
    assert_eq!(new_records, new_deltas, "one record per new token_count");
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_through_a_config_runs_its_processors_and_drains_before_exit() {
    let backend = FakeBackend::http().await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("gateway.yaml");
    let state = work.path().join("state.json");
    std::fs::write(
        &config,
        format!(
            r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
processors:
  attributes/tag:
    actions:
      - {{ key: deployment.environment, value: ingest-test, action: insert }}
  batch:
    timeout: 10s
exporters:
  otlphttp/backend:
    endpoint: {endpoint}
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [attributes/tag, batch]
      exporters: [otlphttp/backend]
    metrics:
      receivers: [otlp]
      processors: [attributes/tag, batch]
      exporters: [otlphttp/backend]
"#,
            port = free_port(),
            endpoint = backend.endpoint(),
        ),
    )
    .unwrap();
    let expected = recorded_grand_total();
    let (code, stderr) = ingest(&[
        "--config",
        path_str(&config),
        "--state",
        path_str(&state),
        path_str(&sessions_dir()),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Everything was delivered before the command exited (the batch stage holds data for 10 s
    // unless the shutdown flushes it).
    assert_eq!(logged_totals(&backend), expected, "{stderr}");
    assert_eq!(metric_totals(&backend), expected);
    let logs = backend.received_logs();
    let records = all_log_records(&logs);
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(
            attr_text(&r.attributes, "deployment.environment").as_deref(),
            Some("ingest-test")
        );
    }
    assert!(state.exists());

    let (code, stderr) = ingest(&[
        "--config",
        path_str(&config),
        "--state",
        path_str(&state),
        path_str(&sessions_dir()),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sent 0 usage record(s)"), "{stderr}");
    assert_eq!(logged_totals(&backend), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_paths_fail_the_run_and_corrupt_lines_are_skipped_and_counted() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.json");
    let source = &recorded_files()[0];
    let text = std::fs::read_to_string(source).unwrap();
    // One corrupt line in the middle of a real session.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "{\"timestamp\": \"2026-11-21T09:45:37.4");
    let dir = work.path().join("sessions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rollout-corrupt.jsonl"),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let missing = work.path().join("no-such-dir");
    let (code, stderr) = ingest(&[
        "--endpoint",
        &setup.http_base(),
        "--state",
        path_str(&state),
        path_str(&dir),
        path_str(&missing),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot read") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped 1 line(s)"), "{stderr}");
    let expected = final_total(&text);
    assert!(
        setup
            .http_backend
            .wait_for(|b| logged_totals(b) == expected, WAIT)
            .await,
        "the readable file's usage is still sent: {:?}",
        logged_totals(&setup.http_backend)
    );

    // A gateway that is not there: non-zero exit, state unchanged.
    let before = std::fs::read(&state).unwrap();
    std::fs::write(dir.join("rollout-more.jsonl"), &text).unwrap();
    let (code, stderr) = ingest(&[
        "--endpoint",
        &format!("http://127.0.0.1:{}", free_port()),
        "--timeout",
        "1s",
        "--state",
        path_str(&state),
        path_str(&dir),
    ]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("POST http://127.0.0.1:"), "{stderr}");
    assert_eq!(std::fs::read(&state).unwrap(), before);
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_authenticates_with_a_bearer_token_from_the_environment() {
    let backend = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    auth:
      bearer_tokens:
        - token: ingest-t0ken
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlphttp/backend:
    endpoint: {endpoint}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlphttp/backend]
    metrics:
      receivers: [otlp]
      exporters: [otlphttp/backend]
"#,
        endpoint = backend.endpoint()
    );
    let mut gateway =
        crate::support::gateway::Gateway::start(&yaml, &[http_port, admin_port]).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.json");
    let endpoint = format!("http://127.0.0.1:{http_port}");
    let sessions = sessions_dir();
    let base = [
        "--endpoint",
        endpoint.as_str(),
        "--state",
        path_str(&state),
        path_str(&sessions),
    ];

    // No credential: refused with 401, nothing recorded as sent.
    let (code, stderr) = ingest(&base);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!state.exists());

    let out = Command::new(GATEWAY_BIN)
        .args([
            "ingest",
            "--no-progress",
            "--bearer-token-env",
            "INGEST_TOKEN",
        ])
        .args(base)
        .env("INGEST_TOKEN", "ingest-t0ken")
        .stdin(Stdio::null())
        .output()
        .expect("run ingest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected = recorded_grand_total();
    assert!(
        backend
            .wait_for(
                |b| logged_totals(b) == expected && metric_totals(b) == expected,
                WAIT
            )
            .await,
        "{:?} / {:?}",
        logged_totals(&backend),
        metric_totals(&backend)
    );
    assert!(state.exists());
    assert!(gateway.stop().await.success());
}
