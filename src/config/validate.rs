//! Semantic checks over the typed model: pipelines, references, signals, addresses, endpoints and
//! every processor's `build()`. Returns all problems at once; unused components are warnings.
//! The checks call the same functions the builder uses, so what validates also builds.

use super::model::{
    component_type, ConnectorConfig, ExporterConfig, GatewayConfig, ProcessorConfig, ReceiverConfig,
};
use super::{join, Diagnostic};
use crate::exporters::{self, config::QueueConfig, config::RetryConfig};
use crate::pipeline::builder::{build_processor, check_connector};
use crate::receivers::otlp::parse_listen_addr;
use processors::Signal;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a component id is defined (`None`) and supports the pipeline's signal.
type Lookup<'a> = dyn Fn(&str) -> Option<bool> + 'a;

/// Checks the whole config; the result holds errors and warnings.
pub fn validate(cfg: &GatewayConfig) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_pipelines(cfg, &mut out);
    check_cumulative_pipelines(cfg, &mut out);
    check_addresses(cfg, &mut out);
    check_receiver_security(cfg, &mut out);
    for (id, p) in &cfg.processors {
        if let Err(errs) = build_processor(p) {
            for e in errs {
                out.push(Diagnostic::error(
                    join(&join("processors", id), &e.field),
                    e.message,
                ));
            }
        }
    }
    for (id, e) in &cfg.exporters {
        check_exporter(id, e, &used_signals(cfg, id, |p| &p.exporters), &mut out);
    }
    check_connectors(cfg, &mut out);
    out
}

/// Connectors: built like processors, ids distinct from receivers and exporters, and used on
/// both sides (a connector only exported to would drop what it makes; one only received from
/// would never produce anything).
fn check_connectors(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    for (id, c) in &cfg.connectors {
        let path = join("connectors", id);
        if let Err(errs) = check_connector(c) {
            for e in errs {
                out.push(Diagnostic::error(join(&path, &e.field), e.message));
            }
        }
        for (section, clash) in [
            ("receivers", cfg.receivers.contains_key(id)),
            ("exporters", cfg.exporters.contains_key(id)),
        ] {
            if clash {
                out.push(Diagnostic::error(
                    path.clone(),
                    format!(
                        "{id:?} is also defined under {section}: pipeline lists would be ambiguous"
                    ),
                ));
            }
        }
        let as_exporter = !used_signals(cfg, id, |p| &p.exporters).is_empty();
        let as_receiver = !used_signals(cfg, id, |p| &p.receivers).is_empty();
        match (as_exporter, as_receiver) {
            (true, false) => out.push(Diagnostic::error(
                path,
                "used as an exporter but no pipeline lists it as a receiver: what it makes would go nowhere",
            )),
            (false, true) => out.push(Diagnostic::error(
                path,
                "used as a receiver but no pipeline lists it as an exporter: it would never produce anything",
            )),
            _ => {}
        }
    }
}

/// Signals of the pipelines that list component `id` (in the list chosen by `list`).
fn used_signals(
    cfg: &GatewayConfig,
    id: &str,
    list: impl Fn(&super::model::PipelineConfig) -> &Vec<String>,
) -> BTreeSet<Signal> {
    cfg.service
        .pipelines
        .iter()
        .filter(|(_, p)| list(p).iter().any(|x| x == id))
        .filter_map(|(pid, _)| Signal::parse(component_type(pid)))
        .collect()
}

fn check_pipelines(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    let pipelines = &cfg.service.pipelines;
    if pipelines.is_empty() {
        out.push(Diagnostic::error(
            "service.pipelines",
            "at least one pipeline (traces, metrics or logs) is required",
        ));
    }
    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (pid, p) in pipelines {
        let path = join("service.pipelines", pid);
        let Some(signal) = Signal::parse(component_type(pid)) else {
            out.push(Diagnostic::error(
                path,
                "a pipeline id is traces, metrics or logs, optionally followed by /name",
            ));
            continue;
        };
        if pid.ends_with('/') {
            out.push(Diagnostic::error(
                path.clone(),
                "empty pipeline name after '/'",
            ));
        }
        for (kind, list) in [("receivers", &p.receivers), ("exporters", &p.exporters)] {
            if list.is_empty() {
                out.push(Diagnostic::error(
                    join(&path, kind),
                    format!("a pipeline needs at least one {}", &kind[..kind.len() - 1]),
                ));
            }
        }
        let lists: [(&str, &Vec<String>, &Lookup); 3] = [
            ("receivers", &p.receivers, &|id| {
                cfg.receivers
                    .get(id)
                    .map(|r: &ReceiverConfig| r.supports(signal))
                    .or_else(|| cfg.connectors.get(id).map(|c| c.feeds(signal)))
            }),
            ("processors", &p.processors, &|id| {
                cfg.processors
                    .get(id)
                    .map(|r: &ProcessorConfig| r.supports(signal))
            }),
            ("exporters", &p.exporters, &|id| {
                cfg.exporters
                    .get(id)
                    .map(|r: &ExporterConfig| r.supports(signal))
                    .or_else(|| cfg.connectors.get(id).map(|c| c.reads(signal)))
            }),
        ];
        if let Some(pos) = p.processors.iter().position(|id| {
            matches!(
                cfg.processors.get(id),
                Some(ProcessorConfig::MemoryLimiter(_))
            )
        }) {
            if pos != 0 {
                out.push(Diagnostic::error(
                    format!("{}[{pos}]", join(&path, "processors")),
                    "memory_limiter must be the first processor of a pipeline",
                ));
            }
        }
        if let Some(pos) = p
            .processors
            .iter()
            .position(|id| matches!(cfg.processors.get(id), Some(ProcessorConfig::Batch(_))))
        {
            if pos + 1 != p.processors.len() {
                out.push(Diagnostic::error(
                    format!("{}[{pos}]", join(&path, "processors")),
                    "batch must be the last processor of a pipeline",
                ));
            }
        }
        for (kind, list, lookup) in lists {
            let mut seen = BTreeSet::new();
            for (i, id) in list.iter().enumerate() {
                let item = format!("{}[{i}]", join(&path, kind));
                if !seen.insert(id) {
                    out.push(Diagnostic::error(item, format!("{id:?} is listed twice")));
                    continue;
                }
                match lookup(id) {
                    None => out.push(Diagnostic::error(
                        item,
                        format!("{id:?} is not defined under {kind}:"),
                    )),
                    Some(false) => {
                        let hint = match cfg.exporters.get(id) {
                            Some(ExporterConfig::PrometheusRemoteWrite(_))
                                if kind == "exporters" =>
                            {
                                " (prometheusremotewrite exports metrics only)"
                            }
                            _ => match cfg.connectors.get(id) {
                                Some(ConnectorConfig::CodexUsage(_)) if kind == "exporters" => {
                                    " (codex_usage reads logs pipelines)"
                                }
                                Some(ConnectorConfig::CodexUsage(_)) => {
                                    " (codex_usage feeds metrics pipelines)"
                                }
                                None => "",
                            },
                        };
                        out.push(Diagnostic::error(
                            item,
                            format!("{id:?} does not support {signal}{hint}"),
                        ))
                    }
                    Some(true) => {
                        let section =
                            if cfg.connectors.contains_key(id.as_str()) && kind != "processors" {
                                "connectors"
                            } else {
                                kind
                            };
                        used.insert((section, id));
                    }
                }
            }
        }
    }
    let defined = cfg
        .receivers
        .keys()
        .map(|k| ("receivers", k))
        .chain(cfg.processors.keys().map(|k| ("processors", k)))
        .chain(cfg.exporters.keys().map(|k| ("exporters", k)))
        .chain(cfg.connectors.keys().map(|k| ("connectors", k)));
    for (kind, id) in defined {
        if !used.contains(&(kind, id.as_str())) {
            out.push(Diagnostic::warning(
                join(kind, id),
                "defined but not used in any pipeline",
            ));
        }
    }
}

/// A metrics pipeline that feeds a `prometheusremotewrite` exporter needs a
/// `delta_to_cumulative` processor: remote write carries cumulative series only, and Codex sends
/// every sum and histogram as delta, so without it the exporter would drop nearly everything.
fn check_cumulative_pipelines(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    for (pid, p) in &cfg.service.pipelines {
        if Signal::parse(component_type(pid)) != Some(Signal::Metrics) {
            continue;
        }
        let converts = p.processors.iter().any(|id| {
            matches!(
                cfg.processors.get(id),
                Some(ProcessorConfig::DeltaToCumulative(_))
            )
        });
        // Fed only by connectors that emit cumulative data: nothing to convert.
        let cumulative_in = !p.receivers.is_empty()
            && p.receivers.iter().all(|id| {
                cfg.connectors
                    .get(id)
                    .is_some_and(ConnectorConfig::emits_cumulative)
            });
        if converts || cumulative_in {
            continue;
        }
        for id in &p.exporters {
            if matches!(
                cfg.exporters.get(id),
                Some(ExporterConfig::PrometheusRemoteWrite(_))
            ) {
                out.push(Diagnostic::error(
                    join(&join("service.pipelines", pid), "processors"),
                    format!(
                        "exporter {id:?} (Prometheus remote write) takes cumulative metrics only \
                         and Codex sends every sum and histogram as delta: add a \
                         delta_to_cumulative processor to this pipeline (define \
                         `delta_to_cumulative:` under processors and list it here, before any \
                         batch); without it those points are dropped"
                    ),
                ));
            }
        }
    }
}

fn check_addresses(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    let mut bound: BTreeMap<std::net::SocketAddr, String> = BTreeMap::new();
    let mut claim =
        |path: String, endpoint: &str, out: &mut Vec<Diagnostic>| match parse_listen_addr(endpoint)
        {
            Err(msg) => out.push(Diagnostic::error(path, msg)),
            Ok(addr) => {
                if let Some(first) = bound.get(&addr) {
                    out.push(Diagnostic::error(
                        path,
                        format!("address {addr} is already used by {first}"),
                    ));
                } else {
                    bound.insert(addr, path);
                }
            }
        };
    for (id, r) in &cfg.receivers {
        let ReceiverConfig::Otlp(otlp) = r;
        let base = join(&join("receivers", id), "protocols");
        if otlp.protocols.grpc.is_none() && otlp.protocols.http.is_none() {
            out.push(Diagnostic::error(
                base.clone(),
                "enable at least one of grpc or http",
            ));
        }
        if let Some(g) = &otlp.protocols.grpc {
            claim(join(&base, "grpc.endpoint"), &g.endpoint, out);
            if g.max_concurrent_streams == 0 {
                out.push(Diagnostic::error(
                    join(&base, "grpc.max_concurrent_streams"),
                    "must be at least 1",
                ));
            }
            if g.max_concurrent_requests == 0 {
                out.push(Diagnostic::error(
                    join(&base, "grpc.max_concurrent_requests"),
                    "must be at least 1",
                ));
            }
        }
        if let Some(h) = &otlp.protocols.http {
            claim(join(&base, "http.endpoint"), &h.endpoint, out);
            if h.max_concurrent_requests == 0 {
                out.push(Diagnostic::error(
                    join(&base, "http.max_concurrent_requests"),
                    "must be at least 1",
                ));
            }
            let mut paths = BTreeSet::new();
            for (key, p) in [
                ("traces_url_path", &h.traces_url_path),
                ("metrics_url_path", &h.metrics_url_path),
                ("logs_url_path", &h.logs_url_path),
            ] {
                let path = join(&base, &format!("http.{key}"));
                if !p.starts_with('/') {
                    out.push(Diagnostic::error(
                        path,
                        format!("{p:?} must start with '/'"),
                    ));
                } else if !paths.insert(p) {
                    out.push(Diagnostic::error(
                        path,
                        format!("{p:?} is used for two signals"),
                    ));
                }
            }
        }
    }
    let metrics = &cfg.service.telemetry.metrics;
    if metrics.enabled() {
        claim(
            "service.telemetry.metrics.address".into(),
            &metrics.address,
            out,
        );
    }
    if let Some(level) = &cfg.service.telemetry.logs.level {
        if crate::telemetry::parse_level(level).is_none() {
            out.push(Diagnostic::error(
                "service.telemetry.logs.level",
                format!("unknown level {level:?} (error, warn, info, debug, trace)"),
            ));
        }
    }
    if let Some(enc) = &cfg.service.telemetry.logs.encoding {
        if enc != "text" && enc != "json" {
            out.push(Diagnostic::error(
                "service.telemetry.logs.encoding",
                format!("unknown encoding {enc:?} (text or json)"),
            ));
        }
    }
}

/// Receiver `tls:` (every file read and parsed, as at start-up) and `auth:`.
fn check_receiver_security(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    use crate::receivers::otlp::{auth::Authenticator, tls};
    for (id, r) in &cfg.receivers {
        let ReceiverConfig::Otlp(otlp) = r;
        let base = join("receivers", id);
        let protocols = [
            (
                "grpc",
                otlp.protocols.grpc.as_ref().map(|g| (&g.endpoint, &g.tls)),
                tls::ALPN_GRPC,
            ),
            (
                "http",
                otlp.protocols.http.as_ref().map(|h| (&h.endpoint, &h.tls)),
                tls::ALPN_HTTP,
            ),
        ];
        for (protocol, settings, alpn) in protocols {
            let Some((endpoint, tls_cfg)) = settings else {
                continue;
            };
            let path = join(&base, &format!("protocols.{protocol}"));
            match tls_cfg {
                Some(t) => {
                    if let Err(e) = tls::server_config(t, alpn) {
                        out.push(Diagnostic::error(
                            join(&path, &format!("tls.{}", e.field)),
                            e.message,
                        ));
                    }
                }
                None => {
                    let loopback = parse_listen_addr(endpoint).is_ok_and(|a| a.ip().is_loopback());
                    if otlp.auth.is_some() && !loopback {
                        out.push(Diagnostic::warning(
                            path,
                            "auth is set but this endpoint has no tls: credentials travel in \
                             plaintext",
                        ));
                    }
                }
            }
        }
        if let Some(a) = &otlp.auth {
            if let Err(errors) = Authenticator::new(a) {
                for e in errors {
                    out.push(Diagnostic::error(
                        join(&join(&base, "auth"), &e.field),
                        e.message,
                    ));
                }
            }
        }
    }
}

/// An exporter's `tls:` files, and settings that do nothing.
fn check_exporter_tls(
    path: &str,
    t: &crate::exporters::config::TlsClientConfig,
    uses_tls: bool,
    out: &mut Vec<Diagnostic>,
) {
    let path = join(path, "tls");
    for e in t.check() {
        out.push(Diagnostic::error(join(&path, e.field), e.message));
    }
    if !uses_tls && t.has_tls_settings() {
        out.push(Diagnostic::warning(
            path,
            "the endpoint is plaintext (http:// or insecure: true): these TLS settings are ignored",
        ));
    } else if t.insecure_skip_verify {
        out.push(Diagnostic::warning(
            join(&path, "insecure_skip_verify"),
            "the backend's certificate is not verified: anyone on the path can read and alter \
             the data",
        ));
    }
}

fn check_exporter(
    id: &str,
    e: &ExporterConfig,
    signals: &BTreeSet<Signal>,
    out: &mut Vec<Diagnostic>,
) {
    let path = join("exporters", id);
    let (queue, retry) = match e {
        ExporterConfig::Otlp(c) => {
            match exporters::otlp_grpc::target(c) {
                Err(msg) => out.push(Diagnostic::error(join(&path, "endpoint"), msg)),
                Ok((_, tls)) => check_exporter_tls(&path, &c.tls, tls, out),
            }
            check_headers(&path, &c.headers, true, out);
            (&c.sending_queue, Some(&c.retry_on_failure))
        }
        ExporterConfig::OtlpHttp(c) => {
            for signal in signals {
                if let Err((field, msg)) = exporters::otlp_http::signal_url(c, *signal) {
                    out.push(Diagnostic::error(join(&path, field), msg));
                }
            }
            if signals.is_empty() && c.endpoint.is_none() {
                if let Err((field, msg)) = exporters::otlp_http::signal_url(c, Signal::Traces) {
                    out.push(Diagnostic::error(join(&path, field), msg));
                }
            }
            check_headers(&path, &c.headers, false, out);
            let https = Signal::ALL
                .iter()
                .filter_map(|s| exporters::otlp_http::signal_url(c, *s).ok())
                .any(|u| u.scheme() == "https");
            check_exporter_tls(&path, &c.tls, https, out);
            (&c.sending_queue, Some(&c.retry_on_failure))
        }
        ExporterConfig::Debug(c) => (&c.sending_queue, None),
        ExporterConfig::LoadBalancing(c) => {
            for (field, msg) in c.problems() {
                out.push(Diagnostic::error(join(&path, &field), msg));
            }
            let member = join(&path, "protocol.otlp");
            check_exporter_tls(
                &member,
                &c.protocol.otlp.tls,
                !c.protocol.otlp.tls.insecure,
                out,
            );
            check_headers(&member, &c.protocol.otlp.headers, true, out);
            check_queue(&member, &c.protocol.otlp.sending_queue, out);
            check_retry(&member, &c.protocol.otlp.retry_on_failure, out);
            (&c.sending_queue, None)
        }
        ExporterConfig::PrometheusRemoteWrite(c) => {
            for problem in c.problems() {
                let at = join(&path, &problem.field);
                out.push(if problem.warning {
                    Diagnostic::warning(at, problem.message)
                } else {
                    Diagnostic::error(at, problem.message)
                });
            }
            check_headers(&path, &c.headers, false, out);
            let https = c.url().is_ok_and(|u| u.scheme() == "https");
            check_exporter_tls(&path, &c.tls, https, out);
            (&c.sending_queue, Some(&c.retry_on_failure))
        }
    };
    check_queue(&path, queue, out);
    if let Some(r) = retry {
        check_retry(&path, r, out);
    }
}

fn check_headers(
    path: &str,
    headers: &BTreeMap<String, String>,
    grpc: bool,
    out: &mut Vec<Diagnostic>,
) {
    for (k, v) in headers {
        if let Err(msg) = exporters::check_header(k, v, grpc) {
            out.push(Diagnostic::error(join(&join(path, "headers"), k), msg));
        }
    }
}

fn check_queue(path: &str, q: &QueueConfig, out: &mut Vec<Diagnostic>) {
    let path = join(path, "sending_queue");
    if !q.enabled {
        out.push(Diagnostic::error(
            join(&path, "enabled"),
            "the queue cannot be disabled: the gateway never makes a client wait for a backend",
        ));
    }
    if q.queue_size == 0 {
        out.push(Diagnostic::error(
            join(&path, "queue_size"),
            "must be at least 1",
        ));
    }
    if q.num_consumers == 0 {
        out.push(Diagnostic::error(
            join(&path, "num_consumers"),
            "must be at least 1",
        ));
    }
}

fn check_retry(path: &str, r: &RetryConfig, out: &mut Vec<Diagnostic>) {
    let path = join(path, "retry_on_failure");
    if !(r.multiplier >= 1.0 && r.multiplier.is_finite()) {
        out.push(Diagnostic::error(
            join(&path, "multiplier"),
            "must be a number ≥ 1",
        ));
    }
    if !(0.0..=1.0).contains(&r.randomization_factor) {
        out.push(Diagnostic::error(
            join(&path, "randomization_factor"),
            "must be between 0 and 1",
        ));
    }
    if r.initial_interval.0.is_zero() {
        out.push(Diagnostic::error(
            join(&path, "initial_interval"),
            "must be above 0",
        ));
    }
    if r.max_interval < r.initial_interval {
        out.push(Diagnostic::error(
            join(&path, "max_interval"),
            "must not be shorter than initial_interval",
        ));
    }
}
