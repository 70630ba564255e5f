//! The privacy judge: real Codex CLI sessions (the pinned npm CLI, scripted model) carry a fresh
//! random corpus (tests/it/support/corpus: every credential format, PII, generic secrets after
//! secret-ish keys, structured credential files, and a secret-free corpus of ordinary work) in the
//! prompt, shell arguments, tool outputs, `apply_patch` content and error messages, over
//! OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC, through the real gateway with
//! `preset: codex` (a test config) and with the shipped `config/gateway.yaml`.
//!
//! What is judged, on everything the backends received (gRPC, OTLP/HTTP protobuf and JSON)
//! decoded to text — every string field of every message, with its path (support/exported.rs):
//!
//! * no planted value arrives anywhere, neither whole nor as its distinctive core (≥ 12
//!   characters of its random part), nor inside base64 that decodes to it;
//! * two independent scanners — secretlint (recommended preset) and detect-secrets — flag the
//!   planted secrets in the raw input (a minimum per scanner proves the oracle works) and flag
//!   **nothing** in what the gateway exported, except strings they also flag in the secret-free
//!   corpus (their own false positives, e.g. `existingSecret: redis-auth`, which the gateway
//!   must keep);
//! * at most 1 % of the ordinary substrings are altered (the measured figure is printed).
//!
//! With `preset: codex` a raw pipeline (no processors) feeds a pass-through backend from the
//! same receiver, which proves every planted value and ordinary substring really reached the
//! gateway. A report (per category, channel, scanner) is printed and written to
//! `$CARGO_TARGET_TMPDIR/privacy-corpus-<config>.txt`. `PRIVACY_CORPUS_SEED=N` repeats a run;
//! `scripts/print-corpus --seed N` prints its corpus.

mod oracles;
mod verdict;

use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol, WorkTreeFile};
use crate::support::corpus::{Corpus, Planted, Session};
use crate::support::exported::Exported;
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::gateway::{free_port, start_shipped_config, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use crate::support::scanners::{self, ScanSet, Scanner};
use verdict::Verdict;

const PROTOCOLS: [OtelProtocol; 3] = [
    OtelProtocol::HttpBinary,
    OtelProtocol::HttpJson,
    OtelProtocol::Grpc,
];
const WAIT: Duration = Duration::from_secs(90);
/// A gateway under judgement and its backends.
struct Target {
    label: &'static str,
    gateway: Gateway,
    grpc_base: String,
    http_base: String,
    /// Backends behind the redaction, with a label.
    redacted: Vec<(&'static str, FakeBackend)>,
    /// The pass-through backend (raw pipelines), when the config has one.
    raw: Option<FakeBackend>,
}

async fn preset_codex_target() -> Target {
    let raw = FakeBackend::http().await;
    let grpc = FakeBackend::grpc().await;
    let proto = FakeBackend::http().await;
    let json = FakeBackend::http().await;
    let (g, h, a) = (free_port(), free_port(), free_port());
    let redacted = "[otlp/redacted, otlphttp/redacted-proto, otlphttp/redacted-json]";
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{g}
      http:
        endpoint: 127.0.0.1:{h}
processors:
  redaction:
    preset: codex
    hash_key: "0123456789abcdef0123456789abcdef"
exporters:
  otlp/redacted:
    endpoint: {grpc_ep}
  otlphttp/redacted-proto:
    endpoint: {proto_ep}
    encoding: proto
  otlphttp/redacted-json:
    endpoint: {json_ep}
    encoding: json
  otlphttp/raw:
    endpoint: {raw_ep}
    encoding: json
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{a}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    traces:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    metrics:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    logs/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
    traces/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
    metrics/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
"#,
        grpc_ep = grpc.endpoint(),
        proto_ep = proto.endpoint(),
        json_ep = json.endpoint(),
        raw_ep = raw.endpoint(),
    );
    let gateway = Gateway::start(&yaml, &[g, h, a]).await;
    Target {
        label: "preset-codex",
        gateway,
        grpc_base: format!("http://127.0.0.1:{g}"),
        http_base: format!("http://127.0.0.1:{h}"),
        redacted: vec![("grpc", grpc), ("http-proto", proto), ("http-json", json)],
        raw: Some(raw),
    }
}

async fn shipped_config_target() -> Target {
    let primary = FakeBackend::grpc().await;
    let secondary = FakeBackend::http().await;
    let (gateway, [g, h, _]) =
        start_shipped_config(&primary.endpoint(), &secondary.endpoint()).await;
    Target {
        label: "shipped-gateway-yaml",
        gateway,
        grpc_base: format!("http://127.0.0.1:{g}"),
        http_base: format!("http://127.0.0.1:{h}"),
        redacted: vec![("otlp/primary", primary), ("otlphttp/secondary", secondary)],
        raw: None,
    }
}

fn seed() -> u64 {
    std::env::var("PRIVACY_CORPUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Runs one Codex session per protocol at once, each carrying its share of a fresh corpus;
/// returns the shares.
async fn run_sessions(t: &Target, seed: u64, v: &mut Verdict) -> Vec<Session> {
    let corpus = Corpus::generate(seed);
    let runs = corpus
        .split(PROTOCOLS.len())
        .into_iter()
        .zip(PROTOCOLS)
        .map(|(session, protocol)| run_session(t, session, protocol));
    let sessions = futures::future::join_all(runs).await;
    for (i, (_, line)) in sessions.iter().enumerate() {
        eprintln!("{}: session {i} over {:?}: {line}", t.label, PROTOCOLS[i]);
        v.line(format!("session {i} over {:?}: {line}", PROTOCOLS[i]));
    }
    sessions.into_iter().map(|(s, _)| s).collect()
}

/// Prints how long a phase took (to stderr, shown with `--nocapture`).
fn phase(label: &str, what: &str, since: Instant) {
    eprintln!("{label}: {what} in {:.1} s", since.elapsed().as_secs_f64());
}

/// One Codex session over `protocol` carrying `s`; checks the model saw every planted value.
async fn run_session(t: &Target, s: Session, protocol: OtelProtocol) -> (Session, String) {
    let llm = MockLlm::start(Script::with_tool_calls(s.commands.clone(), "Done.")).await;
    let base = match protocol {
        OtelProtocol::Grpc => &t.grpc_base,
        _ => &t.http_base,
    };
    // Both pinned Codex versions carry the corpus: the fixtures' version over JSON, the newest
    // over the other transports.
    let version = match protocol {
        OtelProtocol::HttpJson => CodexVersion::V0_169,
        _ => CodexVersion::V0_171,
    };
    let mut cs = CodexSession::new(version, &s.prompt, &llm.base_url(), protocol, base);
    cs.work_files = s
        .files
        .iter()
        .map(|f| WorkTreeFile {
            path: f.path.clone(),
            content: f.content.clone().into_bytes(),
            executable: f.executable,
        })
        .collect();
    let started = Instant::now();
    let run = cs.run().await;
    run.assert_success();
    assert!(
        llm.requests() > s.commands.len(),
        "{protocol:?}: the model was asked {} times for {} steps",
        llm.requests(),
        s.commands.len()
    );
    // The session really carried every value: the model saw each (prompt, commands and
    // outputs travel back to it in the conversation).
    let bodies: Vec<String> = llm
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let cores: Vec<&str> = s.planted.iter().map(|p| p.core.as_str()).collect();
    let seen = seen_in(&cores, &bodies);
    let unseen: Vec<(&str, &str)> = s
        .planted
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .map(|(p, _)| (p.format.as_str(), p.carrier.as_str()))
        .collect();
    assert!(
        unseen.is_empty(),
        "{protocol:?}: the model never saw {unseen:?}"
    );
    let line = format!(
        "{} steps, {} planted values, {} ordinary substrings, {:.1} s",
        s.commands.len(),
        s.planted.len(),
        s.ordinary.len(),
        started.elapsed().as_secs_f64()
    );
    (s, line)
}

/// For each needle, whether it occurs in any of `hay`.
fn seen_in(needles: &[&str], hay: &[String]) -> Vec<bool> {
    let ac = AhoCorasick::new(needles).expect("automaton");
    let mut seen = vec![false; needles.len()];
    for h in hay {
        for m in ac.find_overlapping_iter(h) {
            seen[m.pattern().as_usize()] = true;
        }
    }
    seen
}

fn count_events(b: &FakeBackend, name: &str) -> usize {
    all_log_records(&b.received_logs())
        .iter()
        .filter(|r| attr_text(&r.attributes, "event.name").as_deref() == Some(name))
        .count()
}

/// Waits until every backend holds every session's prompt and tool results, spans and metrics.
async fn wait_for_delivery(t: &Target, sessions: &[Session]) {
    let tools: usize = sessions.iter().map(|s| s.commands.len()).sum();
    let backends = t.redacted.iter().map(|(_, b)| b).chain(t.raw.iter());
    for b in backends {
        let ok = b
            .wait_for(
                |b| {
                    count_events(b, "codex.tool_result") >= tools
                        && count_events(b, "codex.user_prompt") >= sessions.len()
                        && b.span_count() > 0
                        && b.data_point_count() > 0
                },
                WAIT,
            )
            .await;
        assert!(
            ok,
            "{}: waited {WAIT:?} for {tools} tool results: {}\n{}",
            t.label,
            b.describe(),
            t.gateway.output_report()
        );
    }
    // Let the last requests of each signal land.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// What the backends received, decoded: per redacted backend, the pass-through backend (if
/// any), and everything merged.
fn decode(t: &Target) -> (Vec<(&'static str, Exported)>, Option<Exported>, Exported) {
    let mut all = Exported::default();
    let mut redacted = Vec::new();
    for (label, b) in &t.redacted {
        let mut e = Exported::default();
        e.add_backend(label, b);
        all.merge(&e);
        redacted.push((*label, e));
    }
    let raw = t.raw.as_ref().map(|b| {
        let mut e = Exported::default();
        e.add_backend("raw", b);
        all.merge(&e);
        e
    });
    (redacted, raw, all)
}

/// Runs the sessions through `target` and judges what its backends received.
async fn judge(target: Target) {
    let mut t = target;
    let started = Instant::now();
    let seed = seed();
    let mut v = Verdict::default();
    v.line(format!(
        "privacy corpus, config {}, seed {seed} (PRIVACY_CORPUS_SEED={seed} repeats it)\nscanners: {}",
        t.label,
        scanners::versions()
    ));
    let sessions = run_sessions(&t, seed, &mut v).await;
    phase(t.label, "sessions", started);
    wait_for_delivery(&t, &sessions).await;
    let since = Instant::now();
    let planted: Vec<&Planted> = sessions.iter().flat_map(|s| &s.planted).collect();
    let ordinary: Vec<&str> = sessions
        .iter()
        .flat_map(|s| s.ordinary.iter().map(String::as_str))
        .collect();
    let (redacted, raw, all) = decode(&t);
    if let Some(raw) = &raw {
        verdict::delivered(raw, &planted, &ordinary, &mut v);
    }
    verdict::no_leaks(&redacted, &planted, &mut v);
    verdict::ordinary_kept(&redacted, &ordinary, &mut v);
    phase(t.label, "decoding and searching", since);
    oracles::scanners_agree(t.label, &sessions, &planted, &all, &mut v);
    v.line(format!(
        "\nrun time {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("privacy-corpus-{}.txt", t.label));
    let _ = std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::write(&path, &v.report);
    println!("{}\n(report written to {})", v.report, path.display());
    assert!(t.gateway.stop().await.success(), "gateway exit");
    assert!(
        v.failures.is_empty(),
        "{}: {} (report above and in {})",
        t.label,
        v.failures.join("; "),
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_codex_lets_no_planted_secret_through_and_keeps_ordinary_work() {
    judge(preset_codex_target().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_gateway_yaml_lets_no_planted_secret_through_and_keeps_ordinary_work() {
    judge(shipped_config_target().await).await;
}

/// The oracles' only concession: a value that *is* a mask token is no finding; anything next to
/// it still is.
#[test]
fn the_scanners_accept_a_mask_token_and_nothing_more() {
    let mut set = ScanSet::new();
    let masked = set.add("DATABASE_URL=postgres://app:[REDACTED:url_password]@db.internal:5432/app\npassword = \"[REDACTED:assignment]\"\n");
    let partial = set.add(
        "DATABASE_URL=postgres://app:[REDACTED:url_password]Zq81kLm2Pw9x@db.internal:5432/app\n",
    );
    let real = set.add("DATABASE_URL=postgres://app:Zq81kLm2Pw9xTr4e@db.internal:5432/app\npassword = \"Zq81kLm2Pw9xTr4eYu7i\"\n");
    let (findings, _) = set.scan();
    let on = |text: usize, scanner: Scanner| {
        findings
            .iter()
            .filter(|f| f.text == text && f.scanner == scanner)
            .count()
    };
    assert_eq!(
        (
            on(masked, Scanner::Secretlint),
            on(masked, Scanner::DetectSecrets)
        ),
        (0, 0),
        "{findings:?}"
    );
    assert!(on(partial, Scanner::Secretlint) > 0, "{findings:?}");
    assert!(
        on(real, Scanner::Secretlint) > 0 && on(real, Scanner::DetectSecrets) > 0,
        "{findings:?}"
    );
}
