//! The Grafana dashboards in `deploy/grafana/`: their JSON passes a structural check, and every
//! panel query returns data from a real Prometheus (`--web.enable-remote-write-receiver`) fed
//! by the gateway's Prometheus profile (`config/examples/prometheus-remote-write.yaml`) from a
//! real Codex CLI session plus replays of the recorded sessions, and scraping the gateway's
//! admin listener for the health dashboard.
//!
//! Grafana's variables are substituted the way Grafana would: `$team`, `$project`, `$model`,
//! `$job`, `$instance` by `.*` (the dashboards' "All") and then by one value each that
//! Prometheus knows (what the variable's `label_values(...)` query offers); `$__range` by `1h`
//! and `$__rate_interval` by `5m`. Prometheus scrapes every second and the gateway writes a
//! series whenever it changes, so five minutes hold every sample of the test (Grafana's own
//! floor for `$__rate_interval` is four scrape intervals); `1h` covers the whole run.

use crate::remote_write::{shifted, time_span};
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::fixtures::{self, attr_text, string_kv, Signal};
use crate::support::gateway::{self, free_port, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use crate::support::prometheus::{prometheus_binary, Prometheus};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The dashboards, relative to the repository root.
pub const DASHBOARDS: [&str; 3] = [
    "deploy/grafana/codex-usage-cost.json",
    "deploy/grafana/codex-agent-behaviour.json",
    "deploy/grafana/codex-otel-gateway-health.json",
];

/// The Prometheus profile the dashboards and rules are built for.
pub const PROFILE: &str = "config/examples/prometheus-remote-write.yaml";

const WAIT: Duration = Duration::from_secs(60);

/// `<repository>/<rel>`.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(rel: &str) -> Value {
    let path = repo_path(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

/// The panels that show data (rows only group them).
fn data_panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["type"] != "row").collect())
        .unwrap_or_default()
}

/// Every query of a dashboard: (panel id, panel title, expression).
pub fn panel_queries(dashboard: &Value) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for panel in data_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                panel["id"].as_u64().unwrap_or_default(),
                panel["title"].as_str().unwrap_or_default().to_string(),
                target["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

fn is_datasource_variable(ds: &Value) -> bool {
    ds["type"] == "prometheus" && ds["uid"] == "${datasource}"
}

/// The structural problems of one dashboard (empty: none).
fn structural_problems(rel: &str, d: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut say = |p: String| problems.push(format!("{rel}: {p}"));
    if d["schemaVersion"].as_u64().unwrap_or(0) < 39 {
        say(format!(
            "schemaVersion {} is not current",
            d["schemaVersion"]
        ));
    }
    for key in ["uid", "title", "description"] {
        if d[key].as_str().is_none_or(str::is_empty) {
            say(format!("no {key}"));
        }
    }
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let defined: BTreeSet<String> = vars
        .iter()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    match vars.iter().find(|v| v["name"] == "datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => say("no `datasource` variable of type datasource / prometheus".into()),
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        if !is_datasource_variable(&v["datasource"]) {
            say(format!(
                "variable {} does not use ${{datasource}}",
                v["name"]
            ));
        }
    }
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        let id = p["id"].as_u64().unwrap_or(0);
        if !ids.insert(id) {
            say(format!("panel id {id} is used twice"));
        }
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        );
        let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
            say(format!("panel {id} has no gridPos"));
            continue;
        };
        if x + w > 24 || w == 0 || h == 0 {
            say(format!("panel {id} is outside the 24-column grid"));
        }
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            if let Some(other) = cells.insert(cell, id) {
                say(format!("panels {other} and {id} overlap at {cell:?}"));
                break;
            }
        }
    }
    for p in data_panels(d) {
        let id = &p["id"];
        if p["title"].as_str().is_none_or(str::is_empty)
            || p["description"].as_str().is_none_or(str::is_empty)
        {
            say(format!("panel {id} has no title or description"));
        }
        if !is_datasource_variable(&p["datasource"]) {
            say(format!("panel {id} does not use ${{datasource}}"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            say(format!("panel {id} has no query"));
        }
        for t in &targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            if expr.trim().is_empty() {
                say(format!("panel {id} has an empty query"));
            }
            if !is_datasource_variable(&t["datasource"]) {
                say(format!(
                    "a query of panel {id} does not use ${{datasource}}"
                ));
            }
            for var in variables_in(expr) {
                if !var.starts_with("__") && !defined.contains(&var) {
                    say(format!("panel {id} uses ${var}, which is not defined"));
                }
            }
        }
    }
    problems
}

/// The `$name` references in a query.
fn variables_in(expr: &str) -> Vec<String> {
    expr.split('$')
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn dashboards_have_unique_panel_ids_a_query_per_panel_and_the_datasource_variable_everywhere() {
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for rel in DASHBOARDS {
        let d = load(rel);
        assert!(uids.insert(d["uid"].to_string()), "{rel}: uid used twice");
        problems.extend(structural_problems(rel, &d));
        assert!(
            data_panels(&d).len() >= 10,
            "{rel}: a dashboard, not a stub"
        );
    }
    // The Codex dashboards filter by team, project and model.
    for rel in &DASHBOARDS[..2] {
        let d = load(rel);
        for var in ["team", "project", "model"] {
            let v = d["templating"]["list"]
                .as_array()
                .and_then(|l| l.iter().find(|v| v["name"] == var))
                .unwrap_or_else(|| panic!("{rel}: no ${var} variable"));
            assert_eq!(v["includeAll"], true, "{rel}: ${var} offers All");
            assert_eq!(v["allValue"], ".*", "{rel}: ${var} All is .*");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check itself catches what it is for.
    let mut broken = load(DASHBOARDS[0]);
    let panels = broken["panels"].as_array_mut().expect("panels");
    panels[2]["id"] = panels[1]["id"].clone();
    panels[3]["targets"] = Value::Array(Vec::new());
    panels[4]["datasource"]["uid"] = "prometheus".into();
    panels[5]["targets"][0]["expr"] = "sum(codex_tokens_total{team=~\"$squad\"})".into();
    let found = structural_problems("broken", &broken).join("\n");
    for needle in [
        "is used twice",
        "has no query",
        "does not use ${datasource}",
        "$squad",
    ] {
        assert!(found.contains(needle), "{needle} not reported:\n{found}");
    }
}

// ------------------------------------------------------------------------------------------------
// The Prometheus profile with a real Prometheus behind it (shared with `alert_rules`)
// ------------------------------------------------------------------------------------------------

/// The shipped Prometheus profile with the anomaly thresholds lowered for the recorded
/// sessions: the failing-tool-loop session (744 036 tokens) is a runaway at 500 000, and the
/// api-retries session's two failed requests (500, 429) are a burst at 2.
pub fn profile_yaml() -> String {
    let text = std::fs::read_to_string(repo_path(PROFILE)).expect("read the profile");
    let mut out = text.clone();
    for (from, to) in [
        (
            "runaway_session: { max_tokens: 2000000 }",
            "runaway_session: { max_tokens: 500000 }",
        ),
        (
            "api_error_burst: { errors: 3, window: 1m }",
            "api_error_burst: { errors: 2, window: 1m }",
        ),
    ] {
        assert_eq!(out.matches(from).count(), 1, "{PROFILE} has {from:?} once");
        out = out.replace(from, to);
    }
    out
}

/// A real Prometheus receiving remote write and a gateway running the Prometheus profile
/// into it.
pub struct Profile {
    pub prometheus: Prometheus,
    pub gateway: Gateway,
    pub http: u16,
    pub admin: u16,
    _dir: tempfile::TempDir,
}

impl Profile {
    /// Starts both; with `scrape`, Prometheus also scrapes the gateway's admin listener every
    /// second as job `gateway`.
    pub async fn start(scrape: bool) -> Profile {
        prometheus_binary();
        let dir = tempfile::tempdir().expect("temporary directory");
        let (grpc, http, admin) = (free_port(), free_port(), free_port());
        let mut prometheus = Prometheus::start(
            dir.path(),
            scrape.then_some(admin),
            &["--web.enable-remote-write-receiver"],
        );
        prometheus
            .wait_for_value("vector(1)", "1", Duration::from_secs(30))
            .await;
        let addr = |p: u16| format!("127.0.0.1:{p}");
        let write_url = format!("http://127.0.0.1:{}/api/v1/write", prometheus.port);
        let gateway = Gateway::start_with_env(
            &profile_yaml(),
            &[grpc, http, admin],
            &[
                ("GATEWAY_GRPC_ENDPOINT", &addr(grpc)),
                ("GATEWAY_HTTP_ENDPOINT", &addr(http)),
                ("GATEWAY_ADMIN_ENDPOINT", &addr(admin)),
                ("GRAFANA_CLOUD_PROMETHEUS_URL", &write_url),
                ("GATEWAY_INSTANCE", "it"),
            ],
        )
        .await;
        Profile {
            prometheus,
            gateway,
            http,
            admin,
            _dir: dir,
        }
    }

    /// Waits until the exporter has sent everything it took in and holds nothing.
    pub async fn wait_exported(&mut self) {
        let url = format!("http://127.0.0.1:{}/metrics", self.admin);
        let value = |text: &str, prefix: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let mut last = (-1.0, String::new());
        for _ in 0..120 {
            let text = reqwest::get(&url)
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text");
            let sent = value(&text, "gateway_exporter_sent_metric_points_total");
            let held = value(&text, "gateway_exporter_queue_size");
            let failed = value(&text, "gateway_exporter_send_failed_metric_points_total");
            assert_eq!(failed, 0.0, "remote write failed:\n{text}");
            if held == 0.0 && sent > 0.0 && sent == last.0 {
                return;
            }
            last = (sent, text);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the exporter did not settle:\n{}", last.1);
    }
}

/// What to change in a replayed session's logs.
pub type Edit = fn(&mut ExportLogsServiceRequest);

fn records(logs: &mut ExportLogsServiceRequest) -> impl Iterator<Item = &mut LogRecord> {
    logs.resource_logs
        .iter_mut()
        .flat_map(|rl| &mut rl.scope_logs)
        .flat_map(|sl| &mut sl.log_records)
}

fn event(r: &LogRecord) -> Option<String> {
    attr_text(&r.attributes, "event.name")
}

/// Leaves the records as recorded.
pub fn as_recorded(_: &mut ExportLogsServiceRequest) {}

/// Tool approvals decided by a person (`source = User`) instead of by config: a session
/// without the approval-bypass alert.
pub fn approved_by_user(logs: &mut ExportLogsServiceRequest) {
    for r in records(logs).filter(|r| event(r).as_deref() == Some("codex.tool_decision")) {
        set(r, "source", "User");
    }
}

/// [`approved_by_user`], and the session's last model request refused with
/// `context_length_exceeded` (HTTP 400), as the Responses API answers a prompt over the
/// model's context window.
pub fn context_exhausted(logs: &mut ExportLogsServiceRequest) {
    approved_by_user(logs);
    let last = records(logs)
        .filter(|r| event(r).as_deref() == Some("codex.api_request"))
        .last()
        .expect("the session made model requests");
    set(last, "http.response.status_code", "400");
    set(
        last,
        "error.message",
        "context_length_exceeded: Your input exceeds the context window of this model.",
    );
}

fn set(r: &mut LogRecord, key: &str, value: &str) {
    r.attributes.retain(|kv| kv.key != key);
    r.attributes.push(string_kv(key, value));
}

/// Replays a recorded session (`tests/fixtures/<session>`) as a new conversation `tag` of
/// `team` / `project`, now: metrics with their times moved to the last second, log records
/// with `conversation.id` made unique and `edit` applied. Traces are not sent (the profile
/// has no traces pipeline).
pub async fn replay(http: u16, session: &str, team: &str, project: &str, tag: &str, edit: Edit) {
    let headers = [("x-codex-team", team), ("x-codex-project", project)];
    for f in fixtures::session_fixtures(session) {
        let body = match f.signal {
            Signal::Traces => continue,
            Signal::Metrics => {
                let metrics = fixtures::decode_metrics(&f);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_nanos() as u64;
                let (_, end) = time_span(&metrics);
                prost::Message::encode_to_vec(&shifted(&metrics, now - 500_000_000 - end))
            }
            Signal::Logs => {
                let mut logs: ExportLogsServiceRequest = fixtures::decode_logs(&f);
                for r in records(&mut logs) {
                    if let Some(id) = attr_text(&r.attributes, "conversation.id") {
                        set(r, "conversation.id", &format!("{id}-{tag}"));
                    }
                }
                edit(&mut logs);
                prost::Message::encode_to_vec(&logs)
            }
        };
        let url = format!("http://127.0.0.1:{http}{}", f.signal.http_path());
        let (status, _, answer) =
            gateway::post_with_headers(&url, fixtures::PROTOBUF, None, &headers, body).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&answer)
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Every panel query against the real Prometheus
// ------------------------------------------------------------------------------------------------

/// One real `codex exec` session exporting logs and metrics to the gateway as team
/// `payments` / project `checkout-web`: two tool calls, one refused model request (500) first.
async fn real_codex_session(http: u16) {
    let llm = MockLlm::start(Script {
        fail_first: vec![500],
        ..Script::with_tool_calls(["echo dashboards", "ls -la"], "Done.")
    })
    .await;
    let session = CodexSession::new(
        CodexVersion::V0_171,
        "List the files",
        &llm.base_url(),
        OtelProtocol::HttpBinary,
        "http://unused",
    );
    let headers =
        r#"headers = { "x-codex-team" = "payments", "x-codex-project" = "checkout-web" }"#;
    let otel = format!(
        "[otel]\nenvironment = \"prod\"\nlog_user_prompt = false\n\n\
         [otel.exporter.otlp-http]\nendpoint = \"http://127.0.0.1:{http}/v1/logs\"\n\
         protocol = \"binary\"\n{headers}\n\n\
         [otel.metrics_exporter.otlp-http]\nendpoint = \"http://127.0.0.1:{http}/v1/metrics\"\n\
         protocol = \"binary\"\n{headers}\n"
    );
    let run = session.run_with_otel_toml(&otel).await;
    run.assert_success();
    assert!(
        llm.requests() >= 3,
        "a refused request, two tool calls, the answer"
    );
}

/// Substitutes the Grafana variables (see the module documentation).
fn substitute(expr: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "5m")
        .replace("$__range", "1h");
    for (name, value) in values {
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// Whether a query answer holds at least one finite value.
fn has_data(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

/// Values Prometheus knows for `label` on series matching `selector`: what Grafana's
/// `label_values(selector, label)` offers.
async fn label_values(prometheus: &Prometheus, selector: &str, label: &str) -> Vec<String> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/label/{label}/values",
        prometheus.port
    );
    let body = reqwest::Client::new()
        .get(&url)
        .query(&[("match[]", selector)])
        .send()
        .await
        .expect("label values")
        .bytes()
        .await
        .expect("body");
    let answer: Value = serde_json::from_slice(&body).expect("json");
    answer["data"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_data_from_a_real_prometheus_fed_by_the_gateway() {
    let mut p = Profile::start(true).await;
    real_codex_session(p.http).await;
    // Each recorded session twice, as two conversations a few seconds apart, so every
    // counter has two samples for rate() and increase().
    for round in ["a", "b"] {
        for (session, edit) in [
            ("failing-tool-loop-protobuf", as_recorded as Edit),
            ("api-retries-protobuf", as_recorded),
            ("tool-secrets-protobuf", as_recorded),
            ("prompt-redacted-json", context_exhausted),
        ] {
            replay(p.http, session, "platform", "payments-service", round, edit).await;
        }
        p.wait_exported().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // Prometheus scrapes every second; the last writes are in.
    p.prometheus
        .wait_for("sum(codex_tokens_total)", WAIT, |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The variables' own queries offer what the sessions sent.
    let teams = label_values(&p.prometheus, "codex_tokens_total", "team").await;
    assert_eq!(teams, ["payments", "platform"], "teams");
    let projects = label_values(&p.prometheus, "codex_tokens_total", "project").await;
    assert_eq!(projects, ["checkout-web", "payments-service"], "projects");
    let models = label_values(&p.prometheus, "codex_tokens_total", "model").await;
    assert_eq!(models, ["gpt-5.1-codex"], "models");
    let jobs = label_values(&p.prometheus, "gateway_process_uptime_seconds", "job").await;
    assert_eq!(jobs, ["gateway"], "the scrape job");
    let instance = format!("127.0.0.1:{}", p.admin);

    let all: BTreeMap<&str, String> = ["team", "project", "model", "job", "instance"]
        .into_iter()
        .map(|v| (v, ".*".to_string()))
        .collect();
    let one: BTreeMap<&str, String> = BTreeMap::from([
        ("team", "platform".to_string()),
        ("project", "payments-service".to_string()),
        ("model", "gpt-5.1-codex".to_string()),
        ("job", "gateway".to_string()),
        ("instance", instance),
    ]);
    let mut empty = Vec::new();
    let mut count = 0;
    for rel in DASHBOARDS {
        let d = load(rel);
        for (id, title, expr) in panel_queries(&d) {
            for values in [&all, &one] {
                let query = substitute(&expr, values);
                count += 1;
                match p.prometheus.query(&query).await {
                    Ok(result) if has_data(&result) => {}
                    other => empty.push(format!(
                        "{rel} panel {id} {title:?}: {query}\n  -> {other:?}"
                    )),
                }
            }
        }
    }
    assert!(count > 100, "{count} queries");
    assert!(
        empty.is_empty(),
        "{} of {count} panel queries returned no data:\n{}\n{}",
        empty.len(),
        empty.join("\n"),
        p.gateway.output_report()
    );

    // The real session's own series are there too, under its team.
    for query in [
        "sum(codex_tokens_total{team=\"payments\"})",
        "sum(codex_tool_calls_total{team=\"payments\"})",
        "sum(codex_api_requests_total{team=\"payments\",error=\"true\"})",
        "sum(codex_turn_ttft_duration_ms_milliseconds_count{team=\"payments\"})",
    ] {
        let result = p.prometheus.query(query).await.expect("query");
        assert!(has_data(&result), "{query}: {result:?}");
    }
    drop(p.prometheus);
    assert!(
        p.gateway.stop().await.success(),
        "{}",
        p.gateway.output_report()
    );
}
