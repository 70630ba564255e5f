//! The Prometheus rules in `deploy/prometheus/`: `promtool check rules` accepts every file, and
//! `promtool test rules` passes unit tests whose input series are real gateway output.
//!
//! The unit tests are generated here (and committed as `deploy/prometheus/tests/*.test.yml`,
//! so `promtool test rules` runs without Rust):
//! - Codex rules: the recorded Codex sessions are replayed as four teams through the shipped
//!   Prometheus profile into a real Prometheus (remote write); the `codex_alerts_total` and
//!   `codex_tool_calls_total` series Prometheus then holds — names, labels, values — become the
//!   input. Each per-session alert must fire for its team only; the tool-call-loop alert must
//!   fire when a team whose baseline is the normal session runs the failing-tool-loop session.
//! - Gateway rules: a real gateway with a hanging, a rejecting and a healthy destination gets
//!   the tool-secrets session ten times and six malformed requests; its `/metrics` before and
//!   after become the input. Each alert must fire for the failing component only.
//!
//! The generated files must equal the committed ones (the gateway's output is deterministic
//! for these inputs); `UPDATE_RULE_TESTS=1 cargo test --test it alert_rules` rewrites them.

use crate::dashboards::{
    approved_by_user, as_recorded, context_exhausted, replay, repo_path, Edit, Profile,
};
use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{self, free_port, Gateway};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const RULE_FILES: [&str; 2] = [
    "deploy/prometheus/codex-alerts.rules.yml",
    "deploy/prometheus/gateway-alerts.rules.yml",
];
const CODEX_TESTS: &str = "deploy/prometheus/tests/codex-alerts.test.yml";
const GATEWAY_TESTS: &str = "deploy/prometheus/tests/gateway-alerts.test.yml";

/// `job` and `instance` of the gateway self-metrics in the generated tests (a scrape adds them).
const SCRAPE_LABELS: [(&str, &str); 2] = [
    ("instance", "gateway-1:8888"),
    ("job", "codex-otel-gateway"),
];

fn promtool() -> std::path::PathBuf {
    let path = crate::support::prometheus::prometheus_binary().with_file_name("promtool");
    assert!(
        path.is_file(),
        "promtool is not installed next to prometheus ({}); apt-get install -y prometheus",
        path.display()
    );
    path
}

/// Runs promtool with `args`; (success, stdout + stderr).
fn run_promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
struct Rule {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The alerting rules of a file, by name.
fn alerting_rules(rel: &str) -> BTreeMap<String, Rule> {
    let text = std::fs::read_to_string(repo_path(rel)).expect("read rules");
    let file: RuleFile = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    file.groups
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| Some((r.alert.clone()?, r)))
        .collect()
}

#[test]
fn promtool_accepts_every_rules_file_and_every_alert_has_severity_summary_and_description() {
    let (ok, out) = run_promtool(&[&["check", "rules"][..], &RULE_FILES[..]].concat());
    assert!(ok, "{out}");
    let mut names = BTreeSet::new();
    for rel in RULE_FILES {
        for (name, rule) in alerting_rules(rel) {
            assert!(names.insert(name.clone()), "{name} defined twice");
            let severity = rule.labels.get("severity").map(String::as_str);
            assert!(
                matches!(severity, Some("critical" | "warning" | "info")),
                "{rel} {name}: severity {severity:?}"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule.annotations.get(key).is_some_and(|s| s.len() > 20),
                    "{rel} {name}: no {key}"
                );
            }
        }
    }
    assert_eq!(names.len(), 11, "{names:?}");
    // promtool is a real check: a broken expression is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum by (team (codex_alerts_total)\n",
    )
    .expect("write");
    let (ok, out) = run_promtool(&["check", "rules", broken.to_str().expect("path")]);
    assert!(!ok, "promtool accepted a broken rule: {out}");
}

// ------------------------------------------------------------------------------------------------
// Series and templates
// ------------------------------------------------------------------------------------------------

/// One series: sorted labels (with `__name__`) and a value.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Series {
    fn name(&self) -> &str {
        self.labels.get("__name__").map_or("", String::as_str)
    }

    fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }

    /// `name{a="x",b="y"}`, as promtool input.
    fn selector(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).expect("string")))
            .collect();
        format!("{}{{{}}}", self.name(), labels.join(","))
    }

    fn with(&self, key: &str, value: &str) -> Series {
        let mut s = self.clone();
        s.labels.insert(key.to_string(), value.to_string());
        s
    }
}

/// Series of an instant query's answer.
fn from_query(result: &[serde_json::Value]) -> Vec<Series> {
    result
        .iter()
        .map(|s| Series {
            labels: s["metric"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            value: s["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("value"),
        })
        .collect()
}

/// Series of a Prometheus text exposition (`/metrics`), with the scrape's `job`/`instance`.
fn from_exposition(text: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, body) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut labels: BTreeMap<String, String> = body
            .split("\",")
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once("=\"")?;
                Some((k.to_string(), v.trim_end_matches('"').to_string()))
            })
            .collect();
        labels.insert("__name__".into(), name.to_string());
        for (k, v) in SCRAPE_LABELS {
            labels.insert(k.into(), v.into());
        }
        out.push(Series {
            labels,
            value: value.parse().expect("sample value"),
        });
    }
    out
}

/// Go's `%.4g%%` of `v * 100`, what Prometheus' `humanizePercentage` prints (for values whose
/// integer part has at most four digits).
fn humanize_percentage(v: f64) -> String {
    let p = v * 100.0;
    let digits = if p.abs() < 1.0 {
        1
    } else {
        (p.abs().log10().floor() as usize) + 1
    };
    assert!(digits <= 4, "{p} needs an exponent");
    let text = format!("{:.*}", 4 - digits, p);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}%")
}

/// Expands the template actions the rules use: `$labels.<name>`, `$value | printf "%.0f"`,
/// `$value | printf "%.2f"`, `$value | humanizePercentage`. Values that would round
/// differently by a hair are refused (the generated inputs avoid them).
fn render(template: &str, labels: &BTreeMap<String, String>, value: f64) -> String {
    let near_half = |v: f64, scale: f64| ((v * scale).fract().abs() - 0.5).abs() < 1e-6;
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find("}}").expect("closing }}");
        let action = rest[start + 2..end].trim();
        let text = if let Some(name) = action.strip_prefix("$labels.") {
            labels.get(name).cloned().unwrap_or_default()
        } else {
            match action {
                "$value | printf \"%.0f\"" => {
                    assert!(!near_half(value, 1.0), "{value} rounds ambiguously");
                    format!("{value:.0}")
                }
                "$value | printf \"%.2f\"" => {
                    assert!(!near_half(value, 100.0), "{value} rounds ambiguously");
                    format!("{value:.2}")
                }
                "$value | humanizePercentage" => humanize_percentage(value),
                other => panic!("template action {other:?} is not supported by the generator"),
            }
        };
        out.push_str(&text);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A YAML double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// The alerts firing at one time: their labels (besides the rule's) and the expression's value.
type Firing = Vec<(BTreeMap<String, String>, f64)>;

/// Where and how often an alert is expected: at `eval` minutes, one alert per label set.
struct Expect {
    alert: String,
    eval: u64,
    firing: Firing,
}

/// What `alert` does over time: at each (minute, firing).
fn timeline(alert: &str, points: Vec<(u64, Firing)>) -> Vec<Expect> {
    points
        .into_iter()
        .map(|(eval, firing)| Expect {
            alert: alert.to_string(),
            eval,
            firing,
        })
        .collect()
}

/// One promtool test case.
fn test_case(
    name: &str,
    series: &[(Series, String)],
    rules: &BTreeMap<String, Rule>,
    expects: &[Expect],
) -> String {
    format!(
        "  - name: {}\n    interval: 1m\n{}{}",
        q(name),
        input_series(series),
        alert_tests(rules, expects)
    )
}

/// The `alert_rule_test` entries for `expects`.
fn alert_tests(rules: &BTreeMap<String, Rule>, expects: &[Expect]) -> String {
    let mut out = String::from("    alert_rule_test:\n");
    for e in expects {
        let rule = &rules[&e.alert];
        let _ = write!(
            out,
            "      - eval_time: {}m\n        alertname: {}\n",
            e.eval, e.alert
        );
        if e.firing.is_empty() {
            out.push_str("        exp_alerts: []\n");
            continue;
        }
        out.push_str("        exp_alerts:\n");
        for (labels, value) in &e.firing {
            let mut all = labels.clone();
            all.extend(rule.labels.clone());
            out.push_str("          - exp_labels:\n");
            for (k, v) in &all {
                let _ = writeln!(out, "              {k}: {}", q(v));
            }
            out.push_str("            exp_annotations:\n");
            for (k, t) in &rule.annotations {
                let _ = writeln!(out, "              {k}: {}", q(&render(t, &all, *value)));
            }
        }
    }
    out
}

fn input_series(series: &[(Series, String)]) -> String {
    let mut out = String::from("    input_series:\n");
    for (s, values) in series {
        let _ = write!(
            out,
            "      - series: {}\n        values: {}\n",
            q(&s.selector()),
            q(values)
        );
    }
    out
}

/// Compares a generated test file with the committed one (rewriting it with
/// `UPDATE_RULE_TESTS=1`) and runs promtool on the generated text.
fn check_generated(rel: &str, text: &str) {
    let path = repo_path(rel);
    if std::env::var_os("UPDATE_RULE_TESTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    // promtool on the regenerated text, next to copies of the rule files.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("tests")).expect("mkdir");
    for rules in RULE_FILES {
        let name = Path::new(rules).file_name().expect("name");
        std::fs::copy(repo_path(rules), dir.path().join(name)).expect("copy rules");
    }
    let generated = dir
        .path()
        .join("tests")
        .join(Path::new(rel).file_name().expect("name"));
    std::fs::write(&generated, text).expect("write");
    let (ok, out) = run_promtool(&["test", "rules", generated.to_str().expect("path")]);
    assert!(
        ok,
        "promtool test rules {rel} (regenerated):\n{out}\n--- file ---\n{text}"
    );
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{rel} differs from what the gateway produces now; rewrite it with \
         UPDATE_RULE_TESTS=1 cargo test --test it alert_rules and review the diff.\n\
         --- generated ---\n{text}"
    );
    let (ok, out) = run_promtool(&["test", "rules", rel]);
    assert!(ok, "promtool test rules {rel}:\n{out}");
}

const HEADER: &str =
    "# GENERATED by tests/it/alert_rules.rs from real gateway output: do not edit.\n\
# Rewrite with: UPDATE_RULE_TESTS=1 cargo test --test it alert_rules\n\
# Run with:     promtool test rules deploy/prometheus/tests/*.test.yml\n";

// ------------------------------------------------------------------------------------------------
// Codex rules
// ------------------------------------------------------------------------------------------------

/// The replayed sessions: (team, recorded session, edit, the alert kinds the gateway must count).
const SCENARIOS: [(&str, &str, Edit, &[&str]); 4] = [
    (
        "loop",
        "failing-tool-loop-protobuf",
        as_recorded,
        &["runaway_session", "tool_decision", "tool_failure_loop"],
    ),
    (
        "api",
        "api-retries-protobuf",
        approved_by_user,
        &["api_error_burst"],
    ),
    (
        "ctx",
        "prompt-redacted-json",
        context_exhausted,
        &["context_window"],
    ),
    ("normal", "prompt-redacted-json", approved_by_user, &[]),
];

const KIND_ALERTS: [(&str, &str); 5] = [
    ("runaway_session", "CodexRunawaySession"),
    ("tool_failure_loop", "CodexToolFailureLoop"),
    ("tool_decision", "CodexApprovalBypass"),
    ("context_window", "CodexContextWindowExhausted"),
    ("api_error_burst", "CodexApiErrorBurst"),
];

/// Replays the scenarios and returns what Prometheus holds of `codex_alerts_total` and
/// `codex_tool_calls_total`.
async fn record_codex_series() -> (Vec<Series>, Vec<Series>) {
    let mut p = Profile::start(false).await;
    for (team, session, edit, _) in SCENARIOS {
        replay(p.http, session, team, "payments-service", team, edit).await;
    }
    p.wait_exported().await;
    let kinds: usize = SCENARIOS.iter().map(|s| s.3.len()).sum();
    let alerts = p
        .prometheus
        .wait_for("codex_alerts_total", Duration::from_secs(60), |r| {
            r.len() == kinds
        })
        .await;
    let calls = p
        .prometheus
        .wait_for("codex_tool_calls_total", Duration::from_secs(60), |r| {
            let teams: BTreeSet<&str> = r
                .iter()
                .filter_map(|s| s["metric"]["team"].as_str())
                .collect();
            teams.len() == SCENARIOS.len()
        })
        .await;
    drop(p.prometheus);
    assert!(
        p.gateway.stop().await.success(),
        "{}",
        p.gateway.output_report()
    );
    let mut alerts = from_query(&alerts);
    let mut calls = from_query(&calls);
    alerts.sort_by_key(Series::selector);
    calls.sort_by_key(Series::selector);
    (alerts, calls)
}

fn team_project(s: &Series) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("team".to_string(), s.label("team").to_string()),
        ("project".to_string(), s.label("project").to_string()),
    ])
}

/// Per-session alerts: each counted alert as the gateway writes it (one sample, at 10m).
fn per_session_test(rules: &BTreeMap<String, Rule>, alerts: &[Series]) -> String {
    let series: Vec<(Series, String)> = alerts
        .iter()
        .map(|s| (s.clone(), format!("_x10 {} _x50", s.value)))
        .collect();
    let mut expects = Vec::new();
    for (kind, alert) in KIND_ALERTS {
        let firing: Firing = alerts
            .iter()
            .filter(|s| s.label("kind") == kind)
            .map(|s| (team_project(s), s.value))
            .collect();
        expects.extend(timeline(
            alert,
            vec![(9, Vec::new()), (12, firing), (30, Vec::new())],
        ));
    }
    test_case(
        "per-session alerts fire for the team whose session raised them, and only then",
        &series,
        rules,
        &expects,
    )
}

/// Tool-call loop: teams `normal` and `loop` both run the normal session every 10 minutes
/// (their baseline); at 360m team `loop` also runs the failing-tool-loop session.
fn tool_loop_test(rules: &BTreeMap<String, Rule>, calls: &[Series]) -> String {
    const JUMP: u64 = 360;
    const END: u64 = 400;
    let normal: Vec<&Series> = calls
        .iter()
        .filter(|s| s.label("team") == "normal")
        .collect();
    let looping: Vec<&Series> = calls.iter().filter(|s| s.label("team") == "loop").collect();
    // Per series of team loop: (calls per 10 minutes of baseline, calls of the loop session).
    let mut per: BTreeMap<String, (Series, f64, f64)> = BTreeMap::new();
    for team in ["normal", "loop"] {
        for s in &normal {
            let s = s.with("team", team);
            per.insert(s.selector(), (s.clone(), s.value, 0.0));
        }
    }
    for s in &looping {
        per.entry(s.selector())
            .or_insert_with(|| ((*s).clone(), 0.0, 0.0))
            .2 += s.value;
    }
    let mut series = Vec::new();
    for (s, base, jump) in per.values() {
        let slope = base / 10.0;
        // A series only the loop session has starts at 0 (written at the gateway's start):
        // the test is about the baseline, not about a counter's first sample.
        let values = if *base == 0.0 {
            format!("0x{} {jump}+0x{}", JUMP - 1, END - JUMP)
        } else if *jump == 0.0 {
            format!("0+{slope}x{END}")
        } else {
            let at = slope * JUMP as f64 + jump;
            format!("0+{slope}x{} {at}+{slope}x{}", JUMP - 1, END - JUMP)
        };
        series.push((s.clone(), values));
    }
    let base: f64 = normal.iter().map(|s| s.value).sum();
    let spike: f64 = looping.iter().map(|s| s.value).sum();
    assert!(
        spike > base && base + spike >= 5.0,
        "the loop session ({spike} calls) must out-call the normal one ({base})"
    );
    let loop_team = BTreeMap::from([("team".to_string(), "loop".to_string())]);
    let expects = timeline(
        "CodexToolCallLoop",
        vec![
            (JUMP - 5, Vec::new()),
            (JUMP + 5, vec![(loop_team, base + spike)]),
            (END, Vec::new()),
        ],
    );
    test_case(
        &format!("tool-call loop: {spike} calls on top of a baseline of {base} per 10 minutes"),
        &series,
        rules,
        &expects,
    )
}

// ------------------------------------------------------------------------------------------------
// Gateway rules
// ------------------------------------------------------------------------------------------------

const REPLAYS: usize = 10;
const MALFORMED: usize = 6;

/// Drives a gateway into every failure the gateway rules watch and returns its self-metrics
/// before and after.
async fn record_gateway_series() -> (Vec<Series>, Vec<Series>) {
    let stuck = FakeBackend::http().await;
    stuck.set_hang(true);
    let rejecting = FakeBackend::http().await;
    rejecting.set_status(Some(400));
    let healthy = FakeBackend::http().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  redaction: {{ preset: codex }}
exporters:
  otlphttp/stuck:
    endpoint: "{}"
    timeout: 60s
    sending_queue: {{ num_consumers: 1, queue_size: 4, on_full: drop }}
  otlphttp/rejecting:
    endpoint: "{}"
  otlphttp/healthy:
    endpoint: "{}"
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [redaction]
      exporters: [otlphttp/stuck, otlphttp/rejecting, otlphttp/healthy]
"#,
        stuck.endpoint(),
        rejecting.endpoint(),
        healthy.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let scrape = || async {
        reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    };
    let before = from_exposition(&scrape().await);
    let logs = fixtures::fixture("tool-secrets-protobuf", "004_logs.pb");
    let records = fixtures::count_log_records(&fixtures::logs_of(std::slice::from_ref(&logs)));
    for _ in 0..REPLAYS {
        let (status, _, _) =
            gateway::post_fixture(&format!("http://127.0.0.1:{http}"), &logs).await;
        assert_eq!(status, 200);
    }
    for _ in 0..MALFORMED {
        let (status, _, _) = gateway::post(
            &format!("http://127.0.0.1:{http}/v1/logs"),
            fixtures::PROTOBUF,
            None,
            b"\xff\xff\xff not protobuf".to_vec(),
        )
        .await;
        assert_eq!(status, 400);
    }
    let delivered = (REPLAYS * records).to_string();
    let settled = healthy
        .wait_for(
            |b| b.log_record_count() == REPLAYS * records,
            Duration::from_secs(30),
        )
        .await;
    assert!(settled, "{}", gw.output_report());
    crate::bad_requests::wait_for_metrics(
        admin,
        &[format!(
            "gateway_exporter_send_failed_log_records_total{{exporter=\"otlphttp/rejecting\"}} {delivered}"
        )],
    )
    .await;
    let after = from_exposition(&scrape().await);
    // Released, the held requests drain to the (still running) backend before the exit.
    stuck.set_hang(false);
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    (before, after)
}

const GATEWAY_FAMILIES: [&str; 9] = [
    "gateway_exporter_queue_size",
    "gateway_exporter_queue_capacity",
    "gateway_exporter_enqueue_failed_spans_total",
    "gateway_exporter_enqueue_failed_metric_points_total",
    "gateway_exporter_enqueue_failed_log_records_total",
    "gateway_exporter_send_failed_spans_total",
    "gateway_exporter_send_failed_metric_points_total",
    "gateway_exporter_send_failed_log_records_total",
    "gateway_receiver_refused_requests_total",
];

fn by_selector(series: &[Series]) -> BTreeMap<String, Series> {
    series.iter().map(|s| (s.selector(), s.clone())).collect()
}

fn sum_where(series: &[Series], name_prefix: &str, key: &str, value: &str) -> f64 {
    series
        .iter()
        .filter(|s| s.name().starts_with(name_prefix) && s.label(key) == value)
        .map(|s| s.value)
        .sum()
}

fn scrape_labels(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    SCRAPE_LABELS
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Queue full, overflow, send failures and refusals: the scraped values from 10m on; refusals
/// go on at the recorded count per minute.
fn gateway_failures_test(
    rules: &BTreeMap<String, Rule>,
    before: &[Series],
    after: &[Series],
) -> String {
    let before_by = by_selector(before);
    let mut series = Vec::new();
    let mut wanted: Vec<&Series> = after
        .iter()
        .filter(|s| GATEWAY_FAMILIES.contains(&s.name()))
        .collect();
    wanted.sort_by_key(|s| s.selector());
    for s in wanted {
        let b = before_by.get(&s.selector()).map_or(0.0, |b| b.value);
        let values = if s.name() == "gateway_receiver_refused_requests_total" {
            format!("{b}x10 {b}+{}x30", s.value - b)
        } else {
            format!("{b}x10 {}x30", s.value)
        };
        series.push((s.clone(), values));
    }
    let mut expects = Vec::new();
    let exporters: BTreeSet<&str> = after
        .iter()
        .filter(|s| s.name() == "gateway_exporter_queue_size")
        .map(|s| s.label("exporter"))
        .collect();
    let mut full = Vec::new();
    let mut overflow = Vec::new();
    let mut failing = Vec::new();
    for e in &exporters {
        let exact = |name: &str| {
            after
                .iter()
                .filter(|s| s.name() == name && s.label("exporter") == *e)
                .map(|s| s.value)
                .sum::<f64>()
        };
        let size = exact("gateway_exporter_queue_size");
        let cap = exact("gateway_exporter_queue_capacity");
        let labels = scrape_labels(&[("exporter", e)]);
        if size / cap >= 0.9 {
            full.push((labels.clone(), size / cap));
        }
        let dropped = sum_where(after, "gateway_exporter_enqueue_failed_", "exporter", e)
            - sum_where(before, "gateway_exporter_enqueue_failed_", "exporter", e);
        if dropped > 0.0 {
            overflow.push((labels.clone(), dropped));
        }
        let failed = sum_where(after, "gateway_exporter_send_failed_", "exporter", e);
        if failed > 0.0 {
            failing.push((labels, failed));
        }
    }
    // What the gateway did is what the rules are about: only the broken destinations.
    let names = |v: &[(BTreeMap<String, String>, f64)]| -> Vec<String> {
        v.iter().map(|(l, _)| l["exporter"].clone()).collect()
    };
    assert_eq!(names(&full), ["otlphttp/stuck"], "queue fill");
    assert_eq!(names(&overflow), ["otlphttp/stuck"], "overflow");
    assert_eq!(names(&failing), ["otlphttp/rejecting"], "send failures");
    let refused = sum_where(
        after,
        "gateway_receiver_refused_requests_total",
        "receiver",
        "otlp",
    );
    assert_eq!(refused, MALFORMED as f64, "refused requests");
    let refusing = vec![(scrape_labels(&[("receiver", "otlp")]), refused / 60.0)];
    for (alert, fire_at, firing) in [
        ("GatewayExporterQueueFull", 13, full),
        ("GatewayExporterQueueOverflow", 11, overflow),
        ("GatewayExporterSendFailures", 11, failing),
        ("GatewayReceiverRefusingRequests", 22, refusing),
    ] {
        let quiet_until = if alert == "GatewayReceiverRefusingRequests" {
            20
        } else {
            9
        };
        expects.extend(timeline(
            alert,
            vec![(quiet_until, Vec::new()), (fire_at, firing)],
        ));
    }
    test_case(
        "a hanging destination fills its queue and overflows, a rejecting one fails, \
         malformed requests are refused",
        &series,
        rules,
        &expects,
    )
}

/// Redaction spike: each rule at the recorded count of one session per 15 minutes for a day,
/// then the recorded ten sessions within one minute.
fn redaction_test(rules: &BTreeMap<String, Rule>, after: &[Series]) -> String {
    const SPIKE: u64 = 1450;
    let mut series = Vec::new();
    let mut firing = Vec::new();
    let mut redactions: Vec<&Series> = after
        .iter()
        .filter(|s| {
            s.name() == "gateway_processor_events_total" && s.label("event") == "redactions"
        })
        .collect();
    redactions.sort_by_key(|s| s.selector());
    assert!(
        !redactions.is_empty(),
        "the tool-secrets session was redacted"
    );
    for s in redactions {
        let per_session = s.value / REPLAYS as f64;
        let slope = per_session / 15.0;
        let at = slope * SPIKE as f64 + s.value;
        series.push((
            s.clone(),
            format!("0+{slope}x{} {at}+{slope}x20", SPIKE - 1),
        ));
        let window = slope * 15.0 + s.value;
        if window >= 10.0 {
            firing.push((scrape_labels(&[("rule", s.label("rule"))]), window));
        }
    }
    assert!(
        !firing.is_empty(),
        "at least one rule redacts 10 values in ten sessions"
    );
    let expects = timeline(
        "GatewayRedactionSpike",
        vec![(SPIKE - 10, Vec::new()), (SPIKE + 1, firing)],
    );
    test_case(
        "redaction rules at ten times their usual rate fire, their usual rate does not",
        &series,
        rules,
        &expects,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_unit_tests_from_real_gateway_output_fire_for_the_failing_case_only() {
    promtool();
    let (alerts, calls) = record_codex_series().await;
    // The gateway counted exactly the expected kinds per team.
    for (team, session, _, kinds) in SCENARIOS {
        let got: BTreeSet<&str> = alerts
            .iter()
            .filter(|s| s.label("team") == team)
            .map(|s| s.label("kind"))
            .collect();
        let want: BTreeSet<&str> = kinds.iter().copied().collect();
        assert_eq!(got, want, "team {team} ({session})");
    }
    let codex_rules = alerting_rules(RULE_FILES[0]);
    let mut codex = format!(
        "{HEADER}# Codex rules. Input: the series a real Prometheus held after the recorded sessions\n\
         # in tests/fixtures were replayed through config/examples/prometheus-remote-write.yaml\n\
         # (runaway at 500000 tokens, API error burst at 2 errors), one team each:\n"
    );
    for (team, session, _, kinds) in SCENARIOS {
        let _ = writeln!(codex, "#   {team:<7} {session} -> alerts {kinds:?}");
    }
    codex.push_str("rule_files:\n  - ../codex-alerts.rules.yml\nevaluation_interval: 1m\ntests:\n");
    codex.push_str(&per_session_test(&codex_rules, &alerts));
    codex.push_str(&tool_loop_test(&codex_rules, &calls));
    check_generated(CODEX_TESTS, &codex);

    let (before, after) = record_gateway_series().await;
    let gateway_rules = alerting_rules(RULE_FILES[1]);
    let mut text = format!(
        "{HEADER}# Gateway rules. Input: /metrics of a real gateway (job and instance added as a\n\
         # scrape would) before and after {REPLAYS} tool-secrets sessions and {MALFORMED} malformed\n\
         # requests, with a hanging destination (queue of 4), one answering 400 and a healthy one.\n\
         rule_files:\n  - ../gateway-alerts.rules.yml\nevaluation_interval: 1m\ntests:\n"
    );
    text.push_str(&gateway_failures_test(&gateway_rules, &before, &after));
    text.push_str(&redaction_test(&gateway_rules, &after));
    check_generated(GATEWAY_TESTS, &text);
}
