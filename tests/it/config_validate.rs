//! `validate` and `run` on configs: every shipped YAML passes; broken configs fail with exit code
//! 78 and every problem named by its YAML path; `${env:...}` expansion works.

use crate::support::gateway::Gateway;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_codex-otel-gateway");

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read config dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_yaml_under_config_validates_without_warnings() {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        &mut files,
    );
    assert!(
        files.len() >= 2,
        "expected shipped configs, found {files:?}"
    );
    for file in files {
        // No vendor variables set: shipped files must carry defaults.
        let out = Command::new(BIN)
            .args(["validate", "--config"])
            .arg(&file)
            .env_clear()
            .output()
            .expect("run validate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", file.display());
        assert!(!stderr.contains("warning"), "{}: {stderr}", file.display());
    }
}

const GOOD: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:4317 }
      http: { endpoint: 127.0.0.1:4318 }
exporters:
  debug: {}
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [debug] }
"#;

#[test]
fn a_minimal_config_is_valid() {
    let (code, stdout, stderr) = Gateway::validate(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("valid"));
}

/// (what is broken, config, expected `error: <path>` fragment)
const BROKEN: &[(&str, &str, &str)] = &[
    ("unknown top-level key", "recievers: {}\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }", "error: recievers: unknown key"),
    ("unknown receiver field", "receivers: { otlp: { protocols: { http: { endpont: x } } } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }", "error: receivers.otlp.protocols.http.endpont"),
    ("unknown exporter type", "receivers: { otlp: { protocols: { http: } } }\nexporters: { kafka: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [kafka] } } }", "error: exporters.kafka: unknown exporter type"),
    ("undefined exporter", "receivers: { otlp: { protocols: { http: } } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug, otlp/nope] } } }", "error: service.pipelines.logs.exporters[1]"),
    ("pipeline without exporters", "receivers: { otlp: { protocols: { http: } } }\nservice: { pipelines: { traces: { receivers: [otlp] } } }", "error: service.pipelines.traces.exporters"),
    ("pipeline without receivers", "exporters: { debug: {} }\nservice: { pipelines: { traces: { exporters: [debug] } } }", "error: service.pipelines.traces.receivers"),
    ("bad pipeline signal", "receivers: { otlp: { protocols: { http: } } }\nexporters: { debug: {} }\nservice: { pipelines: { events: { receivers: [otlp], exporters: [debug] } } }", "error: service.pipelines.events"),
    ("two receivers on one address", "receivers:\n  otlp: { protocols: { http: { endpoint: 127.0.0.1:5318 } } }\n  otlp/b: { protocols: { grpc: { endpoint: 127.0.0.1:5318 } } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp, otlp/b], exporters: [debug] } } }", "error: receivers.otlp/b.protocols.grpc.endpoint: address 127.0.0.1:5318 is already used"),
    ("unparsable receiver endpoint", "receivers: { otlp: { protocols: { grpc: { endpoint: \"4317\" } } } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }", "error: receivers.otlp.protocols.grpc.endpoint"),
    ("unparsable exporter endpoint", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"ftp://x:1\" } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.endpoint"),
    ("otlphttp without endpoint", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlphttp: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlphttp] } } }", "error: exporters.otlphttp.endpoint"),
    ("bad duration", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"http://x:1\", timeout: 5 } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.timeout"),
    ("bad size", "receivers: { otlp: { protocols: { http: { max_request_body_size: lots } } } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }", "error: receivers.otlp.protocols.http.max_request_body_size"),
    ("bad processor regex", "receivers: { otlp: { protocols: { http: } } }\nprocessors: { attributes: { actions: [ { pattern: \"(\", action: delete } ] } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], processors: [attributes], exporters: [debug] } } }", "error: processors.attributes.actions[0].pattern: invalid regex"),
    ("missing env var", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlphttp: { endpoint: \"http://x:1\", headers: { Authorization: \"Basic ${env:CODEX_GW_TEST_UNSET_TOKEN}\" } } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlphttp] } } }", "error: exporters.otlphttp.headers.Authorization: environment variable CODEX_GW_TEST_UNSET_TOKEN is not set"),
    ("yaml syntax", "receivers:\n  otlp: [unclosed\n", "error: line "),
    ("empty file", "", "error: <root>: the config is empty"),
    ("batch not last", "receivers: { otlp: { protocols: { http: } } }\nprocessors: { batch: {}, attributes: { actions: [ { key: a, value: b, action: upsert } ] } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], processors: [batch, attributes], exporters: [debug] } } }", "error: service.pipelines.logs.processors[0]: batch must be the last processor"),
    ("connector on the wrong signal", "receivers: { otlp: { protocols: { http: } } }\nconnectors: { codex_usage: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [codex_usage] }, metrics: { receivers: [codex_usage], exporters: [debug] } } }", "error: service.pipelines.traces.exporters[0]: \"codex_usage\" does not support traces (codex_usage reads logs pipelines)"),
    ("connector only exported to", "receivers: { otlp: { protocols: { http: } } }\nconnectors: { codex_usage: {} }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [codex_usage, debug] } } }", "error: connectors.codex_usage: used as an exporter but no pipeline lists it as a receiver"),
    ("bad connector field", "receivers: { otlp: { protocols: { http: } } }\nconnectors: { codex_usage: { duration_buckets_ms: [10, 5] } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [codex_usage] }, metrics: { receivers: [codex_usage], exporters: [debug] } } }", "error: connectors.codex_usage.duration_buckets_ms: bounds must be finite and strictly ascending"),
    ("unknown connector type", "receivers: { otlp: { protocols: { http: } } }\nconnectors: { spanmetrics: {} }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [debug] } } }", "error: connectors.spanmetrics: unknown connector type"),
    ("bad batch size", "receivers: { otlp: { protocols: { http: } } }\nprocessors: { batch: { send_batch_size: 100, send_batch_max_size: 10 } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], processors: [batch], exporters: [debug] } } }", "error: processors.batch.send_batch_max_size"),
    ("memory_limiter not first", "receivers: { otlp: { protocols: { http: } } }\nprocessors: { memory_limiter: { limit: 64MiB }, attributes: { actions: [ { key: a, value: b, action: upsert } ] } }\nexporters: { debug: {} }\nservice: { pipelines: { logs: { receivers: [otlp], processors: [attributes, memory_limiter], exporters: [debug] } } }", "error: service.pipelines.logs.processors[1]: memory_limiter must be the first processor"),
    ("zero queue recovery interval", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"http://x:1\", sending_queue: { storage: { directory: /tmp/q, recovery_interval: 0s } } } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.sending_queue.storage.recovery_interval: must be above 0"),
    ("merged export max below min", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"http://x:1\", sending_queue: { batch: { min_size: 100, max_size: 10 } } } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.sending_queue.batch.max_size: must be 0 (no limit) or at least min_size (100)"),
    ("unknown merged export field", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"http://x:1\", sending_queue: { batch: { timeout: 1s } } } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.sending_queue.batch.timeout"),
    ("disabled queue", "receivers: { otlp: { protocols: { http: } } }\nexporters: { otlp: { endpoint: \"http://x:1\", sending_queue: { enabled: false } } }\nservice: { pipelines: { logs: { receivers: [otlp], exporters: [otlp] } } }", "error: exporters.otlp.sending_queue.enabled"),
];

#[test]
fn each_broken_config_fails_with_exit_78_and_its_yaml_path() {
    let mut failures = Vec::new();
    for (what, yaml, expected) in BROKEN {
        let (code, _, stderr) = Gateway::validate(yaml);
        if code != 78 || !stderr.contains(expected) {
            failures.push(format!(
                "{what}: exit {code}, wanted {expected:?}\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn every_problem_is_reported_at_once_and_unused_components_are_warnings() {
    let yaml = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "nope" } } }
exporters:
  debug: {}
  debug/unused: {}
  otlp: { endpoint: "ftp://bad" }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [debug, otlp, missing] }
"#;
    let (code, _, stderr) = Gateway::validate(yaml);
    assert_eq!(code, 78, "{stderr}");
    for fragment in [
        "error: receivers.otlp.protocols.http.endpoint",
        "error: exporters.otlp.endpoint",
        "error: service.pipelines.logs.exporters[2]",
        "warning: exporters.debug/unused: defined but not used",
    ] {
        assert!(
            stderr.contains(fragment),
            "missing {fragment:?} in:\n{stderr}"
        );
    }
}

#[test]
fn env_expansion_fills_values_and_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.yaml");
    std::fs::write(
        &path,
        r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:${env:GW_TEST_PORT}" } } }
exporters:
  otlphttp: { endpoint: "${env:GW_TEST_ENDPOINT:-http://127.0.0.1:9}", headers: { x-cost: "$$5" } }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [otlphttp] }
"#,
    )
    .expect("write");
    let run = |port: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["validate", "--config"])
            .arg(&path)
            .env_remove("GW_TEST_PORT");
        if let Some(p) = port {
            cmd.env("GW_TEST_PORT", p);
        }
        cmd.output().expect("run")
    };
    let ok = run(Some("4999"));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad_port = run(Some("notaport"));
    assert_eq!(bad_port.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad_port.stderr)
        .contains("receivers.otlp.protocols.http.endpoint"));
    let missing = run(None);
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("GW_TEST_PORT"));
}

#[test]
fn run_with_a_broken_config_exits_78_without_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "service: { pipelines: {} }\n").expect("write");
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: service.pipelines"));
}

#[test]
fn loadbalancing_problems_are_reported_with_their_paths() {
    let yaml = r#"
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:4999" } } }
exporters:
  loadbalancing/both:
    resolver:
      static: { hostnames: ["a:4317"] }
      dns: { hostname: gw.svc }
    protocol: { otlp: {} }
  loadbalancing/bad:
    routing_key: conversation.id
    resolver:
      static: { hostnames: ["a:4317", "a:4317", "ftp://b"] }
    protocol:
      otlp:
        endpoint: "c:4317"
        sending_queue: { storage: { directory: /tmp/q } }
  loadbalancing/dns:
    resolver: { dns: { hostname: gw.svc, interval: 100ms } }
    protocol: { otlp: {} }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [loadbalancing/both, loadbalancing/bad, loadbalancing/dns] }
"#;
    let (code, _, stderr) = Gateway::validate(yaml);
    assert_eq!(code, 78, "{stderr}");
    for fragment in [
        "error: exporters.loadbalancing/both.resolver: set only one of `static` and `dns`",
        "error: exporters.loadbalancing/bad.resolver.static.hostnames.1: \"a:4317\" is listed twice",
        "error: exporters.loadbalancing/bad.resolver.static.hostnames.2",
        "error: exporters.loadbalancing/bad.protocol.otlp.endpoint: leave it out",
        "error: exporters.loadbalancing/bad.protocol.otlp.sending_queue.storage",
        "error: exporters.loadbalancing/dns.resolver.dns.interval: must be at least 1s",
    ] {
        assert!(
            stderr.contains(fragment),
            "missing {fragment:?} in:\n{stderr}"
        );
    }
    let (code, _, stderr) =
        Gateway::validate(&yaml.replace("routing_key: conversation.id", "routing_key: spanID"));
    assert_eq!(code, 78, "{stderr}");
    assert!(
        stderr.contains("error: exporters.loadbalancing/bad.routing_key: unknown variant `spanID`"),
        "{stderr}"
    );
}
