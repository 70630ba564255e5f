//! Routing per team through the real binary, fed with a real Codex CLI session
//! (`tests/fixtures/tool-secrets-protobuf`): the `routing` connector sends each team's traces,
//! metrics and logs to that team's backend only — teams tagged by the `team` processor from a
//! request header, or taken from the receiver's `auth` — and what no route matches to the
//! default pipelines (or, without them, counts it as dropped); `headers_from_resource` gives each
//! team's requests its own `X-Scope-OrgID` at a shared backend; `validate` names every wrong
//! routing setting by its YAML path.

use crate::bad_requests::wait_for_metrics;
use crate::support::backends::FakeBackend;
use crate::support::fixtures::{self, Fixture, Signal};
use crate::support::gateway::{self, free_port, Gateway, GrpcOptions};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SESSION: &str = "tool-secrets-protobuf";

/// The session as the real Codex CLI sent it: two trace requests, metrics, logs.
fn session() -> Vec<Fixture> {
    fixtures::session_fixtures(SESSION)
}

/// Spans, data points and log records of one run of the session.
fn totals() -> (usize, usize, usize) {
    let mut t = (0, 0, 0);
    for f in session() {
        let n = f.decode().item_count();
        match f.signal {
            Signal::Traces => t.0 += n,
            Signal::Metrics => t.1 += n,
            Signal::Logs => t.2 += n,
        }
    }
    t
}

/// The `team` resource attribute of a resource (`None` when absent).
fn team(r: Option<&Resource>) -> Option<String> {
    r?.attributes
        .iter()
        .find(|kv| kv.key == "team")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The teams of every resource a backend received, whatever the signal.
fn teams_at(b: &FakeBackend) -> BTreeSet<Option<String>> {
    let traces = b.received_traces();
    let metrics = b.received_metrics();
    let logs = b.received_logs();
    traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .map(|r| team(r.resource.as_ref()))
        .chain(
            metrics
                .iter()
                .flat_map(|r| &r.resource_metrics)
                .map(|r| team(r.resource.as_ref())),
        )
        .chain(
            logs.iter()
                .flat_map(|r| &r.resource_logs)
                .map(|r| team(r.resource.as_ref())),
        )
        .collect()
}

/// Waits until `b` holds one whole session, then checks it holds exactly that (nothing more).
async fn expect_one_session(b: &FakeBackend, who: &str) {
    let (spans, points, records) = totals();
    let whole = |b: &FakeBackend| {
        b.span_count() >= spans && b.data_point_count() >= points && b.log_record_count() >= records
    };
    assert!(
        b.wait_for(whole, WAIT).await,
        "{who}: waited for one session; {}",
        b.describe()
    );
    // Anything routed wrongly would have arrived by now too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (b.span_count(), b.data_point_count(), b.log_record_count()),
        (spans, points, records),
        "{who}: exactly one session"
    );
}

/// One `routing/<signal>` connector: team payments and team search by resource attribute.
fn routing_by_resource(signal: &str) -> String {
    format!(
        r#"  routing/{signal}:
    default_pipelines: [{signal}/other]
    table:
      - name: payments
        condition: {{ resource: {{ team: payments }} }}
        pipelines: [{signal}/payments]
      - name: search
        condition: {{ resource: {{ team: {{ regex: "^sea" }} }} }}
        pipelines: [{signal}/search]
"#
    )
}

/// The pipelines of one signal: `<signal>/in` → `routing/<signal>` → one pipeline per team.
fn team_pipelines(signal: &str, processors: &str) -> String {
    format!(
        r#"    {signal}/in: {{ receivers: [otlp], processors: [{processors}], exporters: [routing/{signal}] }}
    {signal}/payments: {{ receivers: [routing/{signal}], exporters: [otlphttp/payments] }}
    {signal}/search: {{ receivers: [routing/{signal}], exporters: [otlp/search] }}
    {signal}/other: {{ receivers: [routing/{signal}], exporters: [otlphttp/other] }}
"#
    )
}

const RETRY: &str = "retry_on_failure: { initial_interval: 100ms, max_interval: 1s }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_team_tagged_from_a_header_reaches_only_its_own_backend_and_the_rest_the_default() {
    let payments = FakeBackend::http().await;
    let search = FakeBackend::grpc().await;
    let other = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let signals = ["traces", "metrics", "logs"];
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
processors:
  team:
    rules:
      - match: {{ metadata: {{ key: x-codex-team, regex: "^(payments|search)$" }} }}
        set: {{ team: "$1" }}
    default: {{}}
connectors:
{connectors}exporters:
  otlphttp/payments: {{ endpoint: "{p}", {RETRY} }}
  otlp/search: {{ endpoint: "{s}", {RETRY} }}
  otlphttp/other: {{ endpoint: "{o}", {RETRY} }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
{pipelines}"#,
        connectors = signals.map(routing_by_resource).concat(),
        pipelines = signals.map(|s| team_pipelines(s, "team")).concat(),
        p = payments.endpoint(),
        s = search.endpoint(),
        o = other.endpoint(),
    );
    let _gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let base = format!("http://127.0.0.1:{http_port}");
    for team in [Some("payments"), Some("search"), None] {
        for f in session() {
            let headers: Vec<(&str, &str)> =
                team.map(|t| ("x-codex-team", t)).into_iter().collect();
            let (status, _, body) = gateway::post_with_headers(
                &format!("{base}{}", f.path),
                &f.content_type,
                None,
                &headers,
                f.body.clone(),
            )
            .await;
            assert_eq!(
                status,
                200,
                "{}: {}",
                f.label(),
                String::from_utf8_lossy(&body)
            );
        }
    }
    expect_one_session(&payments, "payments").await;
    expect_one_session(&search, "search").await;
    expect_one_session(&other, "other").await;
    let one = |t: Option<&str>| BTreeSet::from([t.map(str::to_string)]);
    assert_eq!(
        teams_at(&payments),
        one(Some("payments")),
        "nothing crosses"
    );
    assert_eq!(teams_at(&search), one(Some("search")), "nothing crosses");
    assert_eq!(
        teams_at(&other),
        one(None),
        "only untagged data is unmatched"
    );

    let (spans, points, records) = totals();
    let mut lines = Vec::new();
    for (signal, items, n) in [
        ("traces", "spans", spans),
        ("metrics", "metric_points", points),
        ("logs", "log_records", records),
    ] {
        let c = format!("connector=\"routing/{signal}\"");
        for route in ["payments", "search"] {
            lines.push(format!(
                "gateway_connector_routed_{items}_total{{{c},route=\"{route}\"}} {n}"
            ));
        }
        lines.push(format!(
            "gateway_connector_unmatched_{items}_total{{{c}}} {n}"
        ));
        lines.push(format!(
            "gateway_connector_received_{items}_total{{{c}}} {}",
            3 * n
        ));
        lines.push(format!("gateway_connector_dropped_{items}_total{{{c}}} 0"));
    }
    wait_for_metrics(admin_port, &lines).await;
}

const PAYMENTS_TOKEN: &str = "tok-payments-0123456789";
const SEARCH_TOKEN: &str = "tok-search-0123456789";
const GUEST_TOKEN: &str = "tok-guest-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_on_the_receivers_auth_team_sends_each_client_to_its_team_and_counts_the_rest() {
    let payments = FakeBackend::http().await;
    let search = FakeBackend::grpc().await;
    let (http_port, grpc_port, admin_port) = (free_port(), free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    auth:
      bearer_tokens:
        - token: ${{env:PAYMENTS_TOKEN}}
          attributes: {{ team: payments }}
        - token: ${{env:SEARCH_TOKEN}}
          attributes: {{ team: search }}
        - token: ${{env:GUEST_TOKEN}}
    protocols:
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
      grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }}
connectors:
  routing:
    table:
      - condition: {{ metadata: {{ auth.team: payments }} }}
        pipelines: [logs/payments]
      - condition: {{ metadata: {{ auth.team: search }} }}
        pipelines: [logs/search]
exporters:
  otlphttp/payments: {{ endpoint: "{p}", {RETRY} }}
  otlp/search: {{ endpoint: "{s}", {RETRY} }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs/in: {{ receivers: [otlp], exporters: [routing] }}
    logs/payments: {{ receivers: [routing], exporters: [otlphttp/payments] }}
    logs/search: {{ receivers: [routing], exporters: [otlp/search] }}
"#,
        p = payments.endpoint(),
        s = search.endpoint(),
    );
    let _gw = Gateway::start_with_env(
        &yaml,
        &[http_port, grpc_port, admin_port],
        &[
            ("PAYMENTS_TOKEN", PAYMENTS_TOKEN),
            ("SEARCH_TOKEN", SEARCH_TOKEN),
            ("GUEST_TOKEN", GUEST_TOKEN),
        ],
    )
    .await;
    let logs = session()
        .into_iter()
        .find(|f| f.signal == Signal::Logs)
        .expect("the session has logs");
    let records = logs.decode().item_count();
    let url = format!("http://127.0.0.1:{http_port}{}", logs.path);
    // Payments over HTTP, search over gRPC, the guest (no team) over HTTP.
    for token in [PAYMENTS_TOKEN, GUEST_TOKEN] {
        let auth = format!("Bearer {token}");
        let (status, _, body) = gateway::post_with_headers(
            &url,
            &logs.content_type,
            None,
            &[("authorization", auth.as_str())],
            logs.body.clone(),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let options = GrpcOptions {
        metadata: vec![("authorization".into(), format!("Bearer {SEARCH_TOKEN}"))],
        ..GrpcOptions::default()
    };
    let request = ExportLogsServiceRequest::decode(logs.body.as_slice()).expect("decode");
    gateway::grpc_export_logs_with(&format!("http://127.0.0.1:{grpc_port}"), request, &options)
        .await
        .expect("the search client's logs are taken");

    payments.expect_log_records(records, WAIT).await;
    search.expect_log_records(records, WAIT).await;
    let c = "connector=\"routing\"";
    wait_for_metrics(
        admin_port,
        &[
            format!("gateway_connector_routed_log_records_total{{{c},route=\"0\"}} {records}"),
            format!("gateway_connector_routed_log_records_total{{{c},route=\"1\"}} {records}"),
            format!("gateway_connector_unmatched_log_records_total{{{c}}} {records}"),
            format!("gateway_connector_dropped_log_records_total{{{c}}} {records}"),
        ],
    )
    .await;
    assert_eq!(
        payments.log_record_count(),
        records,
        "the guest's logs went nowhere"
    );
    assert_eq!(
        search.log_record_count(),
        records,
        "the guest's logs went nowhere"
    );
}

/// `(value of header, teams of the resources)` of every logs request a backend received.
fn headers_and_teams(
    b: &FakeBackend,
    header: &str,
) -> Vec<(Option<String>, BTreeSet<Option<String>>)> {
    b.received_logs_with_headers()
        .into_iter()
        .map(|(r, logs)| {
            let teams = logs
                .resource_logs
                .iter()
                .map(|r| team(r.resource.as_ref()))
                .collect();
            (r.header(header).map(str::to_string), teams)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_team_gets_its_own_tenant_header_even_when_a_batch_mixes_teams() {
    let mimir = FakeBackend::http().await;
    let tempo = FakeBackend::grpc().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
processors:
  team:
    rules:
      - match: {{ metadata: {{ key: x-codex-team, regex: "^(payments|search)$" }} }}
        set: {{ team: "$1" }}
    default: {{}}
  batch: {{ timeout: 1s, send_batch_size: 100000 }}
exporters:
  otlphttp/mimir:
    endpoint: "{m}"
    headers: {{ X-Scope-OrgID: anonymous }}
    headers_from_resource: {{ X-Scope-OrgID: team }}
    {RETRY}
  otlp/tempo:
    endpoint: "{t}"
    headers_from_resource:
      x-scope-orgid: {{ attribute: team, default: shared }}
    {RETRY}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [team, batch], exporters: [otlphttp/mimir, otlp/tempo] }}
"#,
        m = mimir.endpoint(),
        t = tempo.endpoint(),
    );
    let _gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let logs = session()
        .into_iter()
        .find(|f| f.signal == Signal::Logs)
        .expect("the session has logs");
    let records = logs.decode().item_count();
    let url = format!("http://127.0.0.1:{http_port}{}", logs.path);
    // Three clients within the batch timeout: one batch holds all three teams.
    for team in [Some("payments"), Some("search"), None] {
        let headers: Vec<(&str, &str)> = team.map(|t| ("x-codex-team", t)).into_iter().collect();
        let (status, _, _) =
            gateway::post_with_headers(&url, &logs.content_type, None, &headers, logs.body.clone())
                .await;
        assert_eq!(status, 200);
    }
    mimir.expect_log_records(3 * records, WAIT).await;
    tempo.expect_log_records(3 * records, WAIT).await;
    for (b, header, fallback) in [
        (&mimir, "X-Scope-OrgID", "anonymous"),
        (&tempo, "x-scope-orgid", "shared"),
    ] {
        let got = headers_and_teams(b, header);
        let mut seen = BTreeSet::new();
        for (value, teams) in &got {
            let value = value
                .clone()
                .unwrap_or_else(|| panic!("{header} missing: {got:?}"));
            assert_eq!(teams.len(), 1, "one team per request: {got:?}");
            let team = teams.iter().next().cloned().flatten();
            assert_eq!(
                value,
                team.clone().unwrap_or(fallback.to_string()),
                "{got:?}"
            );
            seen.insert(value);
        }
        let want: BTreeSet<String> = ["payments", "search", fallback].map(String::from).into();
        assert_eq!(seen, want, "{}", b.describe());
    }
    wait_for_metrics(
        admin_port,
        &[
            format!(
                "gateway_exporter_header_fallbacks_log_records_total{{exporter=\"otlphttp/mimir\"}} {records}"
            ),
            format!(
                "gateway_exporter_header_fallbacks_log_records_total{{exporter=\"otlp/tempo\"}} {records}"
            ),
            format!("gateway_exporter_sent_log_records_total{{exporter=\"otlp/tempo\"}} {}", 3 * records),
        ],
    )
    .await;
}

#[test]
fn validate_names_every_wrong_routing_setting_by_its_path() {
    let yaml = r#"
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:4318 } } }
connectors:
  routing:
    default_pipelines: [logs/nowhere]
    table:
      - condition: { resource: { team: { regex: "(" } } }
        pipelines: [metrics/a]
      - condition: {}
        pipelines: [logs/deaf]
  routing/empty: {}
  routing/loop:
    table:
      - condition: { resource: { team: a } }
        pipelines: [traces/a]
exporters:
  debug: {}
  otlphttp/x:
    endpoint: http://127.0.0.1:1
    headers_from_resource: { "X Bad": team, X-Ok: { attribute: "" } }
service:
  pipelines:
    logs/in: { receivers: [otlp], exporters: [routing] }
    logs/deaf: { receivers: [otlp], exporters: [debug] }
    logs/forgotten: { receivers: [routing], exporters: [otlphttp/x] }
    metrics/a: { receivers: [routing], exporters: [debug] }
    logs/e: { receivers: [routing/empty], exporters: [routing/empty] }
    traces/a: { receivers: [otlp, routing/loop], exporters: [routing/loop] }
"#;
    let (code, _, stderr) = Gateway::validate(yaml);
    assert_eq!(code, 78, "{stderr}");
    for (path, message) in [
        (
            "connectors.routing.table[0].condition.resource.team.regex",
            "invalid regex",
        ),
        (
            "connectors.routing.table[1].condition",
            "needs at least one matcher",
        ),
        (
            "connectors.routing.table[0].pipelines[0]",
            "\"metrics/a\" is a metrics pipeline",
        ),
        (
            "connectors.routing.table[1].pipelines[0]",
            "does not list \"routing\" among its receivers",
        ),
        (
            "connectors.routing.default_pipelines[0]",
            "\"logs/nowhere\" is not defined",
        ),
        (
            "service.pipelines.logs/forgotten.receivers[0]",
            "would never receive anything",
        ),
        ("connectors.routing/empty.table", "list at least one route"),
        (
            "service.pipelines.traces/a.exporters",
            "connectors make a cycle: traces/a -> traces/a",
        ),
        (
            "exporters.otlphttp/x.headers_from_resource.X Bad",
            "not a valid HTTP header name",
        ),
        (
            "exporters.otlphttp/x.headers_from_resource.X-Ok.attribute",
            "must not be empty",
        ),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(path) && l.contains(message)),
            "expected `{path}: ...{message}...` in:\n{stderr}"
        );
    }
}
