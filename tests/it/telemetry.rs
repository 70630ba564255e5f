//! Self-metrics through the real binary: after a replay, `/metrics` counts exactly what was sent,
//! processed and delivered, the queue gauges are back to zero and the process metrics are there;
//! and a real Prometheus scrapes the admin listener.

use crate::bad_requests::wait_for_metrics;
use crate::support::fixtures::{
    self, all_spans, count_data_points, count_log_records, count_spans, logs_of, metrics_of,
    traces_of,
};
use crate::support::gateway;
use crate::support::prometheus::{prometheus_binary, Prometheus};
use crate::{start_fan_out, FanOut};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Exporters of [`crate::fan_out_config`].
const EXPORTERS: [&str; 2] = ["otlp/grpc-backend", "otlphttp/http-backend"];

/// Span name the `filter/receiving` processor drops.
const FILTERED_SPAN: &str = "receiving";

/// A processor that changes nothing countable, then one that drops the `receiving` spans; both
/// in every pipeline.
const PROCESSORS_YAML: &str = r#"  resource/tag:
    attributes:
      - { key: deployment.environment, value: test, action: upsert }
  filter/receiving:
    traces:
      span:
        - name: receiving"#;

/// Label keys a self-metric may carry: component ids, and the processor audit's config-derived
/// `event` and `rule`. Nothing from requests.
/// Label keys: component ids, config-derived audit labels, and the listener of a connection
/// counter with its close reason (`idle`, `slow`).
const LABEL_KEYS: [&str; 7] = [
    "receiver",
    "processor",
    "exporter",
    "event",
    "rule",
    "listener",
    "reason",
];

/// One scrape of `/metrics`.
async fn scrape(admin_port: u16) -> String {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .expect("metrics text")
}

/// Samples of an exposition: `name{labels}` → value text. Panics on a malformed line.
fn samples(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed sample line {line:?}"));
        assert!(
            out.insert(series.to_string(), value.to_string()).is_none(),
            "series {series} twice"
        );
    }
    out
}

/// The value of `series` as a number; panics (with the exposition) when absent.
fn number(samples: &BTreeMap<String, String>, series: &str, text: &str) -> f64 {
    samples
        .get(series)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no numeric {series} in /metrics:\n{text}"))
}

/// The label keys of a series, `name{a="x",b="y"}` → `[a, b]`.
fn label_keys(series: &str) -> Vec<String> {
    let Some((_, labels)) = series.split_once('{') else {
        return Vec::new();
    };
    let labels = labels.strip_suffix('}').expect("labels end with }");
    let mut keys = Vec::new();
    let mut rest = labels;
    while let Some((key, after)) = rest.split_once("=\"") {
        keys.push(key.trim_start_matches(',').to_string());
        // Skip the quoted value, honouring \" escapes.
        let mut escaped = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            })
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("unterminated label value in {series}"));
        rest = &after[end + 1..];
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_fixture_replay_count_exactly_what_was_sent_and_delivered() {
    let mut setup = start_fan_out(FanOut {
        processors: &["resource/tag", "filter/receiving"],
        processors_yaml: PROCESSORS_YAML,
        ..FanOut::default()
    })
    .await;
    let sent = fixtures::protobuf_fixtures();
    for f in &sent {
        let (status, _, body) = gateway::post_fixture(&setup.http_base(), f).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&body)
        );
    }
    let traces = traces_of(&sent);
    let (spans, points, records) = (
        count_spans(&traces),
        count_data_points(&metrics_of(&sent)),
        count_log_records(&logs_of(&sent)),
    );
    let filtered = all_spans(&traces)
        .iter()
        .filter(|s| s.name == FILTERED_SPAN)
        .count();
    assert!(
        points > 0 && records > 0 && filtered > 0 && spans > filtered,
        "fixtures look wrong: {spans} spans ({filtered} {FILTERED_SPAN:?}), {points} points, \
         {records} records"
    );
    let delivered = spans - filtered;
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        backend.expect_spans(delivered, WAIT).await;
        backend.expect_data_points(points, WAIT).await;
        backend.expect_log_records(records, WAIT).await;
    }
    // Let anything extra arrive before comparing exactly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        assert_eq!(
            (
                backend.span_count(),
                backend.data_point_count(),
                backend.log_record_count()
            ),
            (delivered, points, records),
            "{}",
            backend.name()
        );
    }

    // Exact counter lines (whole-line matches: 11 is not 110).
    let mut lines = Vec::new();
    let per_signal = [
        ("spans", spans, delivered),
        ("metric_points", points, points),
        ("log_records", records, records),
    ];
    for (items, in_, out) in per_signal {
        lines.push(format!(
            "gateway_receiver_accepted_{items}_total{{receiver=\"otlp\"}} {in_}"
        ));
        lines.push(format!(
            "gateway_receiver_refused_{items}_total{{receiver=\"otlp\"}} 0"
        ));
        for (p, out_p) in [("resource/tag", in_), ("filter/receiving", out)] {
            lines.push(format!(
                "gateway_processor_incoming_{items}_total{{processor=\"{p}\"}} {in_}"
            ));
            lines.push(format!(
                "gateway_processor_outgoing_{items}_total{{processor=\"{p}\"}} {out_p}"
            ));
            lines.push(format!(
                "gateway_processor_dropped_{items}_total{{processor=\"{p}\"}} {}",
                in_ - out_p
            ));
        }
        for e in EXPORTERS {
            lines.push(format!(
                "gateway_exporter_sent_{items}_total{{exporter=\"{e}\"}} {out}"
            ));
            for failure in ["send_failed", "enqueue_failed"] {
                lines.push(format!(
                    "gateway_exporter_{failure}_{items}_total{{exporter=\"{e}\"}} 0"
                ));
            }
        }
    }
    for e in EXPORTERS {
        // Gauges back to zero once everything is delivered; no retries against healthy backends.
        for zero in [
            "queue_size",
            "queue_bytes",
            "in_flight_requests",
            "retries_total",
        ] {
            lines.push(format!("gateway_exporter_{zero}{{exporter=\"{e}\"}} 0"));
        }
        lines.push(format!(
            "gateway_exporter_queue_capacity{{exporter=\"{e}\"}} 1000"
        ));
        lines.push(format!(
            "gateway_exporter_queue_capacity_bytes{{exporter=\"{e}\"}} {}",
            64 * 1024 * 1024
        ));
    }
    lines.push("gateway_receiver_refused_requests_total{receiver=\"otlp\"} 0".to_string());
    wait_for_metrics(setup.admin_port, &lines).await;

    let text = scrape(setup.admin_port).await;
    let all = samples(&text);
    // Process metrics: present, computed at scrape time, plausible.
    let rss = number(&all, "gateway_process_resident_memory_bytes", &text);
    let cpu = number(&all, "gateway_process_cpu_seconds_total", &text);
    let uptime = number(&all, "gateway_process_uptime_seconds", &text);
    assert!(rss > 1e6 && rss < 4e9, "RSS {rss} bytes");
    assert!(uptime > 0.0 && uptime < 600.0, "uptime {uptime} s");
    let cores = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
    assert!(
        cpu > 0.0 && cpu <= uptime * cores + 1.0,
        "CPU {cpu} s in {uptime} s on {cores} cores (the replay takes CPU)"
    );
    for family in [
        "# TYPE gateway_process_resident_memory_bytes gauge",
        "# TYPE gateway_process_cpu_seconds counter",
        "# TYPE gateway_process_uptime_seconds gauge",
    ] {
        assert!(text.lines().any(|l| l == family), "{family} in\n{text}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = samples(&scrape(setup.admin_port).await);
    let uptime_later = number(&later, "gateway_process_uptime_seconds", &text);
    assert!(
        uptime_later > uptime,
        "uptime moves: {uptime} → {uptime_later}"
    );

    // Only component ids (and the audit's config-derived event/rule) as labels.
    for series in all.keys() {
        assert!(
            series.starts_with("gateway_"),
            "{series}: not a gateway_ name"
        );
        for key in label_keys(series) {
            assert!(
                LABEL_KEYS.contains(&key.as_str()),
                "{series}: label {key:?} is not a component id"
            );
        }
    }
    assert!(
        setup.gateway.stop().await.success(),
        "{}",
        setup.gateway.output_report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_gateway() {
    // Fail (not skip) before anything starts when Prometheus is missing.
    prometheus_binary();
    let mut setup = start_fan_out(FanOut::default()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut prometheus = Prometheus::start(dir.path(), Some(setup.admin_port), &[]);

    let logs = fixtures::of_signal(&fixtures::protobuf_fixtures(), fixtures::Signal::Logs);
    assert!(!logs.is_empty(), "no protobuf logs fixture");
    for f in &logs {
        let (status, _, body) = gateway::post_fixture(&setup.http_base(), f).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&body)
        );
    }
    let records = count_log_records(&logs_of(&logs));
    setup.http_backend.expect_log_records(records, WAIT).await;

    prometheus
        .wait_for_value(
            "gateway_receiver_accepted_log_records_total{job=\"gateway\",receiver=\"otlp\"}",
            &records.to_string(),
            WAIT,
        )
        .await;
    prometheus
        .wait_for_value("up{job=\"gateway\"}", "1", Duration::from_secs(5))
        .await;
    // Scrape-time process metrics reach Prometheus too.
    prometheus
        .wait_for_value(
            "count(gateway_process_resident_memory_bytes{job=\"gateway\"} > 1000000)",
            "1",
            Duration::from_secs(5),
        )
        .await;
    drop(prometheus);
    assert!(
        setup.gateway.stop().await.success(),
        "{}",
        setup.gateway.output_report()
    );
}
