//! Every shipped config is safe by default (issue 16, item 1). The shipped configs are found by
//! walking `config/` and `deploy/` (support/shipped.rs), so a new file cannot escape:
//!
//! * each pipeline fed by a receiver runs `memory_limiter`, then `codex`, then `redaction` with
//!   `preset: codex` and its `hash_key` from `REDACTION_HASH_KEY`, before any other processor;
//!   a pipeline fed only by connectors gets its data from such pipelines; the listen addresses
//!   and the admin address come from environment variables;
//! * each one, run as shipped with only environment variables pointing its exporters at
//!   in-test backends (OTLP gRPC, OTLP/HTTP, a remote write sink, or the debug exporter's
//!   stdout), takes a real Codex CLI session whose prompt and tool output carry freshly
//!   generated secrets (and a logged-in account's e-mail and id), and none of those values
//!   reaches any backend.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::redaction_e2e::everything_received;
use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, Login, OtelProtocol};
use crate::support::corpus::formats::credential_formats;
use crate::support::corpus::gen::Gen;
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::gateway::{free_port, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use crate::support::shipped::{shipped_configs, ShippedConfig};

const WAIT: Duration = Duration::from_secs(60);
/// Gateways (with their Codex session) run at once.
const CONCURRENT: usize = 4;

fn parse(c: &ShippedConfig) -> Value {
    serde_saphyr::from_str(&c.yaml).unwrap_or_else(|e| panic!("{}: YAML: {e}", c.label))
}

fn ids(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn kind(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Problems of one pipeline fed by a receiver: the safety chain must come first.
fn chain_problems(cfg: &Value, name: &str, processors: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let kinds: Vec<&str> = processors.iter().map(|p| kind(p)).collect();
    if kinds.get(..3) != Some(&["memory_limiter", "codex", "redaction"][..]) {
        out.push(format!(
            "pipeline {name}: processors {processors:?} do not start with memory_limiter, codex, redaction"
        ));
        return out;
    }
    let redaction = &cfg["processors"][&processors[2]];
    if redaction["preset"] != "codex" {
        out.push(format!(
            "pipeline {name}: {} has no `preset: codex`",
            processors[2]
        ));
    }
    let key = redaction["hash_key"].as_str().unwrap_or("");
    if !key.contains("${env:REDACTION_HASH_KEY") {
        out.push(format!(
            "pipeline {name}: {} hash_key is not from REDACTION_HASH_KEY ({key:?})",
            processors[2]
        ));
    }
    out
}

/// Every problem of one config with the safety rules.
fn safety_problems(c: &ShippedConfig) -> Vec<String> {
    let cfg = parse(c);
    let connectors: Vec<String> = cfg["connectors"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let pipelines = cfg["service"]["pipelines"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(!pipelines.is_empty(), "{}: no pipelines", c.label);
    let mut out = Vec::new();
    for (name, p) in &pipelines {
        let receivers = ids(p.get("receivers"));
        let processors = ids(p.get("processors"));
        if receivers.iter().any(|r| !connectors.contains(r)) {
            out.extend(chain_problems(&cfg, name, &processors));
            continue;
        }
        // Fed by connectors only: every pipeline exporting to them must be a safe one.
        for connector in &receivers {
            for (up_name, up) in &pipelines {
                if ids(up.get("exporters")).contains(connector) {
                    let up_receivers = ids(up.get("receivers"));
                    if up_receivers.iter().all(|r| connectors.contains(r)) {
                        out.push(format!(
                            "pipeline {name}: fed by {connector} from {up_name}, itself fed by connectors only"
                        ));
                    }
                }
            }
        }
    }
    let protocols = cfg["receivers"]["otlp"]["protocols"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (proto, p) in &protocols {
        let endpoint = p["endpoint"].as_str().unwrap_or("");
        if !endpoint.starts_with("${env:GATEWAY_") {
            out.push(format!(
                "receiver otlp {proto} endpoint {endpoint:?} is not from the environment"
            ));
        }
    }
    let admin = cfg["service"]["telemetry"]["metrics"]["address"]
        .as_str()
        .unwrap_or("");
    if !admin.starts_with("${env:GATEWAY_ADMIN_ENDPOINT") {
        out.push(format!(
            "admin address {admin:?} is not from GATEWAY_ADMIN_ENDPOINT"
        ));
    }
    out
}

#[test]
fn every_shipped_config_runs_memory_limiter_codex_and_redaction_first_in_every_pipeline() {
    let configs = shipped_configs();
    let labels: Vec<&str> = configs.iter().map(|c| c.label.as_str()).collect();
    // The walk finds the known ones (and any new file with them).
    for expected in [
        "config/default.yaml",
        "config/gateway.yaml",
        "config/container.yaml",
        "config/examples/last9.yaml",
        "config/examples/grafana-cloud.yaml",
        "config/examples/signoz.yaml",
        "config/examples/otlp.yaml",
        "config/examples/prometheus-remote-write.yaml",
        "deploy/kubernetes/configmap.yaml#gateway.yaml",
        "deploy/kubernetes/sidecar/configmap.yaml#gateway.yaml",
    ] {
        assert!(
            labels.contains(&expected),
            "{expected} not found in {labels:?}"
        );
    }
    let problems: Vec<String> = configs
        .iter()
        .flat_map(|c| {
            safety_problems(c)
                .into_iter()
                .map(move |p| format!("{}: {p}", c.label))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "unsafe shipped configs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_safety_rules_catch_a_config_without_the_chain() {
    let bad = ShippedConfig {
        label: "bad.yaml".into(),
        yaml: "receivers: { otlp: { protocols: { http: { endpoint: 127.0.0.1:4318 } } } }\n\
               processors: { redaction: { preset: codex }, codex: {} }\n\
               exporters: { debug: {} }\n\
               service: { pipelines: { logs: { receivers: [otlp], processors: [codex, redaction], exporters: [debug] } } }\n"
            .into(),
    };
    let problems = safety_problems(&bad);
    assert!(
        problems.iter().any(|p| p.contains("do not start with")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not from the environment")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("admin address")),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Planted secrets through every shipped config
// ---------------------------------------------------------------------------------------------

/// Fresh values planted in one session: credentials of several vendors, an e-mail, a login.
#[derive(Clone, Debug)]
struct Planted {
    secrets: Vec<String>,
    email: String,
    login: Login,
}

impl Planted {
    fn fresh(seed: u64) -> Planted {
        let mut g = Gen::new(seed);
        let wanted = [
            "openai-project-key",
            "github-pat-classic",
            "aws-access-key-id",
            "slack-bot-token",
            "anthropic-api-key",
        ];
        let secrets = credential_formats()
            .into_iter()
            .filter(|f| wanted.contains(&f.id))
            .map(|f| (f.make)(&mut g).value)
            .collect::<Vec<_>>();
        assert_eq!(secrets.len(), wanted.len(), "every wanted format exists");
        let word = g.from(crate::support::corpus::gen::LOWER, 10);
        Planted {
            secrets,
            email: format!("{word}.dev@example-{}.test", g.digits(4)),
            login: Login {
                email: format!(
                    "{}@corp-{}.test",
                    g.from(crate::support::corpus::gen::LOWER, 8),
                    g.digits(3)
                ),
                account_id: format!("acct-{}", g.hex(16)),
            },
        }
    }

    /// Every value that must not arrive anywhere.
    fn all(&self) -> Vec<String> {
        let mut v = self.secrets.clone();
        v.push(self.email.clone());
        v.push(self.login.email.clone());
        v.push(self.login.account_id.clone());
        v
    }

    /// One shell command printing every secret, as a tool would.
    fn command(&self) -> String {
        let names = [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "SLACK_BOT_TOKEN",
            "ANTHROPIC_API_KEY",
        ];
        let parts: Vec<String> = names
            .iter()
            .zip(&self.secrets)
            .map(|(n, s)| format!("echo {n}={s}"))
            .collect();
        format!("{}; echo owner {}", parts.join("; "), self.email)
    }

    fn prompt(&self) -> String {
        format!(
            "Deploy with {} and {}; mail {} when done",
            self.secrets[0], self.secrets[1], self.email
        )
    }
}

/// Remote write requests, snappy-decoded, as received.
#[derive(Clone, Default)]
struct RemoteWriteSink {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    url: String,
}

impl RemoteWriteSink {
    async fn start() -> RemoteWriteSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/api/v1/write",
            listener.local_addr().expect("addr")
        );
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let store = bodies.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                match snap::raw::Decoder::new().decompress_vec(&body) {
                    Ok(raw) => {
                        store.lock().unwrap().push(raw);
                        axum::http::StatusCode::NO_CONTENT
                    }
                    Err(_) => axum::http::StatusCode::BAD_REQUEST,
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RemoteWriteSink { bodies, url }
    }

    fn received(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }
}

/// Where one config's exporters are pointed.
#[derive(Default)]
struct Backends {
    otlp: Vec<(String, FakeBackend)>,
    remote_write: Option<RemoteWriteSink>,
    /// The debug exporter prints to the gateway's stdout.
    stdout: bool,
    /// A second gateway between this one and the backends (tier 2 of the two-tier example).
    downstream: Option<Gateway>,
    /// Folders the gateway writes to (persistent queues), removed at the end.
    _dirs: Vec<tempfile::TempDir>,
}

fn url(b: &FakeBackend) -> String {
    format!("http://{}", b.addr())
}

/// Configs with one exporter: (file stem, variable of its endpoint, gRPC backend, path suffix).
const SINGLE_BACKEND: &[(&str, &str, bool, &str)] = &[
    ("codex-lean", "LEAN_OTLP_ENDPOINT", false, ""),
    ("last9", "LAST9_OTLP_ENDPOINT", false, ""),
    (
        "grafana-cloud",
        "GRAFANA_CLOUD_OTLP_ENDPOINT",
        false,
        "/otlp",
    ),
    ("signoz", "SIGNOZ_OTLP_ENDPOINT", true, ""),
    ("otlp", "OTLP_ENDPOINT", false, ""),
    ("two-tier-affine", "BACKEND_OTLP_ENDPOINT", false, ""),
];

/// The environment pointing `c`'s exporters at fresh in-test backends. Panics for a config
/// without a plan, so a new shipped config must get one here.
async fn plan(c: &ShippedConfig) -> (Vec<(String, String)>, Backends) {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut b = Backends::default();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    if let Some((_, var, grpc, suffix)) = SINGLE_BACKEND.iter().find(|s| s.0 == c.stem()) {
        let backend = if *grpc {
            FakeBackend::grpc().await
        } else {
            FakeBackend::http().await
        };
        set(var, format!("{}{suffix}", url(&backend)));
        b.otlp = vec![(c.stem().to_string(), backend)];
        return (env, b);
    }
    match (c.label.as_str(), c.stem()) {
        (_, "default") => {
            set("GATEWAY_DEBUG_VERBOSITY", "detailed".into());
            b.stdout = true;
        }
        (_, "gateway" | "container" | "codex-full") => {
            let (g, h) = (FakeBackend::grpc().await, FakeBackend::http().await);
            set("PRIMARY_OTLP_ENDPOINT", url(&g));
            set("SECONDARY_OTLP_ENDPOINT", url(&h));
            let dir = tempfile::tempdir().expect("tempdir");
            set("GATEWAY_QUEUE_DIR", dir.path().display().to_string());
            b._dirs.push(dir);
            b.otlp = vec![("primary".into(), g), ("secondary".into(), h)];
        }
        (_, "fan-out") => {
            let (l, g, s) = (
                FakeBackend::http().await,
                FakeBackend::http().await,
                FakeBackend::grpc().await,
            );
            set("LAST9_OTLP_ENDPOINT", url(&l));
            set("GRAFANA_CLOUD_OTLP_ENDPOINT", format!("{}/otlp", url(&g)));
            set("SIGNOZ_OTLP_ENDPOINT", url(&s));
            b.otlp = vec![
                ("last9".into(), l),
                ("grafana-cloud".into(), g),
                ("signoz".into(), s),
            ];
        }
        (_, "prometheus-remote-write") => {
            let sink = RemoteWriteSink::start().await;
            set("GRAFANA_CLOUD_PROMETHEUS_URL", sink.url.clone());
            b.remote_write = Some(sink);
        }
        (_, "two-tier-ingest") => {
            // Tier 2 as shipped, in front of the backend; tier 1 routes to it by IP.
            let h = FakeBackend::http().await;
            let affine = std::fs::read_to_string(
                crate::support::shipped::root().join("config/examples/two-tier-affine.yaml"),
            )
            .expect("read two-tier-affine.yaml");
            let (grpc, admin) = (free_port(), free_port());
            let tier2_env = [
                ("GATEWAY_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}")),
                ("GATEWAY_ADMIN_ENDPOINT", format!("127.0.0.1:{admin}")),
                ("BACKEND_OTLP_ENDPOINT", url(&h)),
            ];
            let tier2_env: Vec<(&str, &str)> =
                tier2_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.downstream = Some(Gateway::start_with_env(&affine, &[grpc, admin], &tier2_env).await);
            set("AFFINE_TIER_HOSTNAME", "127.0.0.1".into());
            set("AFFINE_TIER_PORT", grpc.to_string());
            b.otlp = vec![("backend behind tier 2".into(), h)];
        }
        (label, _) if label.starts_with("deploy/kubernetes/") => {
            let h = FakeBackend::http().await;
            set("VENDOR_OTLP_ENDPOINT", url(&h));
            set("VENDOR_API_TOKEN", "test-token".into());
            let dir = tempfile::tempdir().expect("tempdir");
            set("GATEWAY_QUEUE_DIR", dir.path().display().to_string());
            b._dirs.push(dir);
            b.otlp = vec![("vendor".into(), h)];
        }
        (label, _) => {
            panic!("{label}: no plan in shipped_configs.rs: add where its exporters point")
        }
    }
    (env, b)
}

fn tool_results(b: &FakeBackend) -> usize {
    let logs = b.received_logs();
    all_log_records(&logs)
        .iter()
        .filter(|r| attr_text(&r.attributes, "event.name").as_deref() == Some("codex.tool_result"))
        .count()
}

fn leaks(label: &str, blobs: &[Vec<u8>], planted: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in planted {
        if blobs
            .iter()
            .any(|blob| blob.windows(s.len()).any(|w| w == s.as_bytes()))
        {
            out.push(format!("{s} reached {label}"));
        }
    }
    out
}

/// Runs one shipped config with a Codex session carrying `planted`; returns what leaked (or why
/// the run proves nothing).
async fn run_one(c: ShippedConfig, seed: u64) -> Result<String, String> {
    let planted = Planted::fresh(seed);
    let (mut env, mut backends) = plan(&c).await;
    let has_http = c.yaml.contains("${env:GATEWAY_HTTP_ENDPOINT");
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    env.push(("GATEWAY_GRPC_ENDPOINT".into(), format!("127.0.0.1:{grpc}")));
    env.push(("GATEWAY_HTTP_ENDPOINT".into(), format!("127.0.0.1:{http}")));
    env.push((
        "GATEWAY_ADMIN_ENDPOINT".into(),
        format!("127.0.0.1:{admin}"),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ports: Vec<u16> = if has_http {
        vec![grpc, http, admin]
    } else {
        vec![grpc, admin]
    };
    let mut gateway = Gateway::start_with_env(&c.yaml, &ports, &env_refs).await;

    let llm = MockLlm::start(Script::with_tool_calls([planted.command()], "Done.")).await;
    let (protocol, base) = if has_http {
        (OtelProtocol::HttpBinary, format!("http://127.0.0.1:{http}"))
    } else {
        (OtelProtocol::Grpc, format!("http://127.0.0.1:{grpc}"))
    };
    let mut session = CodexSession::new(
        CodexVersion::V0_171,
        &planted.prompt(),
        &llm.base_url(),
        protocol,
        &base,
    );
    session.login = Some(planted.login.clone());
    let run = session.run().await;
    if !run.success() {
        return Err(format!("{}: Codex failed: {}", c.label, run.stderr));
    }
    if !llm.saw_text(&planted.secrets[0]) {
        return Err(format!(
            "{}: the tool output with the secrets never reached the model",
            c.label
        ));
    }

    let all = planted.all();
    let mut found = Vec::new();
    let mut received = 0usize;
    for (name, b) in &backends.otlp {
        let ok = b.wait_for(|b| tool_results(b) >= 1, WAIT).await;
        if !ok {
            return Err(format!(
                "{}: no codex.tool_result reached {name}: {}",
                c.label,
                b.describe()
            ));
        }
        let blobs = everything_received(b);
        received += blobs.len();
        found.extend(leaks(&format!("{} {name}", c.label), &blobs, &all));
        // The logged-in user arrives as a pseudonym (the e-mail itself is checked above).
        let logs = b.received_logs();
        let emails: Vec<String> = all_log_records(&logs)
            .iter()
            .filter_map(|r| attr_text(&r.attributes, "user.email"))
            .collect();
        if emails.iter().any(|e| !e.starts_with("hmac-sha256:")) {
            found.push(format!(
                "{} {name}: user.email not pseudonymised: {emails:?}",
                c.label
            ));
        }
    }
    if let Some(sink) = &backends.remote_write {
        let deadline = tokio::time::Instant::now() + WAIT;
        while sink.received().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let blobs = sink.received();
        if blobs.is_empty() {
            return Err(format!(
                "{}: nothing reached the remote write sink",
                c.label
            ));
        }
        received += blobs.len();
        found.extend(leaks(&format!("{} remote write", c.label), &blobs, &all));
    }
    if backends.stdout {
        gateway.wait_for_output("codex.tool_result", WAIT).await;
        if !gateway.stdout().contains("codex.tool_result") {
            return Err(format!(
                "{}: the debug exporter printed no codex.tool_result",
                c.label
            ));
        }
        received += 1;
    }
    if !gateway.stop().await.success() {
        return Err(format!("{}: the gateway did not stop cleanly", c.label));
    }
    // The gateway's own output (the debug exporter's stdout, its logs) is a destination too.
    let output = [gateway.stdout().into_bytes(), gateway.stderr().into_bytes()];
    found.extend(leaks(&format!("{} gateway output", c.label), &output, &all));
    if let Some(mut tier2) = backends.downstream.take() {
        tier2.stop().await;
    }
    if found.is_empty() {
        Ok(format!(
            "{}: {received} requests, nothing planted arrived",
            c.label
        ))
    } else {
        Err(found.join("\n"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_from_a_real_codex_session_reaches_any_backend_through_any_shipped_config(
) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("planted-secret seed {seed}");
    let configs = shipped_configs();
    let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in configs.into_iter().enumerate() {
        let gate = gate.clone();
        let label = c.label.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            (label, run_one(c, seed.wrapping_add(i as u64)).await)
        });
    }
    let mut results = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((label, r)) => {
                results.insert(label, r);
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let failures: Vec<&String> = results.values().filter_map(|r| r.as_ref().err()).collect();
    for r in results.values().flatten() {
        eprintln!("{r}");
    }
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
