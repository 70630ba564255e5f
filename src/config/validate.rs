//! Semantic checks over the typed model: pipelines, references, signals, placement, addresses,
//! and every component's own checks through its registry. Processors and connectors are built
//! here — once — and handed to the builder ([`Components`]), so what validates is what runs.
//! Returns all problems at once; unused components are warnings.

use super::model::{component_type, GatewayConfig, PipelineConfig};
use super::{join, Diagnostic};
use crate::base::net::parse_listen_addr;
use crate::pipeline::connector::{Connector, ConnectorType};
use crate::pipeline::processors::{Built, Placement};
use processors::{BuildError, Signal};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// What `validate` built, for the builder to reuse: every processor a pipeline lists (one
/// instance per pipeline for stateful processors, one shared instance otherwise) and every
/// connector.
#[derive(Clone, Default)]
pub struct Components {
    processors: BTreeMap<(String, String), Built>,
    connectors: BTreeMap<String, Arc<dyn Connector>>,
}

impl Components {
    /// The instance of processor `id` for pipeline `pipeline`.
    pub fn processor(&self, pipeline: &str, id: &str) -> Option<&Built> {
        self.processors.get(&(pipeline.to_string(), id.to_string()))
    }

    /// The connector `id`.
    pub fn connector(&self, id: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(id)
    }
}

impl fmt::Debug for Components {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Components")
            .field("processors", &self.processors.keys().collect::<Vec<_>>())
            .field("connectors", &self.connectors.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Checks the whole config and builds its processors and connectors; the diagnostics hold
/// errors and warnings (the components are complete only when there is no error).
pub fn validate(cfg: &GatewayConfig) -> (Vec<Diagnostic>, Components) {
    let mut out = Vec::new();
    check_pipelines(cfg, &mut out);
    check_connector_cycles(cfg, &mut out);
    check_cumulative_pipelines(cfg, &mut out);
    check_addresses(cfg, &mut out);
    check_telemetry(cfg, &mut out);
    for (id, r) in &cfg.receivers {
        r.get().check(&join("receivers", id), &mut out);
    }
    for (id, e) in &cfg.exporters {
        let signals = used_signals(cfg, id, |p| &p.exporters);
        e.get().check(&join("exporters", id), &signals, &mut out);
    }
    let components = Components {
        processors: build_processors(cfg, &mut out),
        connectors: build_connectors(cfg, &mut out),
    };
    (out, components)
}

/// Builds every processor: per pipeline that lists it when it is stateful, once otherwise
/// (processors no pipeline lists are built once too, to report their problems).
fn build_processors(
    cfg: &GatewayConfig,
    out: &mut Vec<Diagnostic>,
) -> BTreeMap<(String, String), Built> {
    let mut built = BTreeMap::new();
    for (id, p) in &cfg.processors {
        let path = join("processors", id);
        let users: Vec<&String> = cfg
            .service
            .pipelines
            .iter()
            .filter(|(_, pc)| pc.processors.contains(id))
            .map(|(pid, _)| pid)
            .collect();
        let mut shared = None;
        for pid in &users {
            let one = match (&shared, p.get().stateful()) {
                (Some(b), false) => Some(Built::clone(b)),
                _ => report(&path, p.get().build(), out),
            };
            let Some(one) = one else { break };
            shared = Some(one.clone());
            built.insert(((*pid).clone(), id.clone()), one);
        }
        if users.is_empty() {
            report(&path, p.get().build(), out);
        }
    }
    built
}

/// The built value, or `None` with its problems pushed under `path`.
fn report<T>(
    path: &str,
    built: Result<T, Vec<BuildError>>,
    out: &mut Vec<Diagnostic>,
) -> Option<T> {
    built
        .map_err(|errs| {
            for e in errs {
                out.push(Diagnostic::error(join(path, &e.field), e.message));
            }
        })
        .ok()
}

/// Connectors: built, ids distinct from receivers and exporters, and used on both sides (a
/// connector only exported to would drop what it makes; one only received from would never
/// produce anything).
fn build_connectors(
    cfg: &GatewayConfig,
    out: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Arc<dyn Connector>> {
    let mut built = BTreeMap::new();
    for (id, c) in &cfg.connectors {
        let path = join("connectors", id);
        if let Some(connector) = report(&path, c.get().build(), out) {
            built.insert(id.clone(), connector);
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
        check_named_pipelines(cfg, id, c.get(), &path, out);
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
    built
}

/// A connector that names its downstream pipelines (`routing`): each named pipeline exists,
/// lists the connector as a receiver and has the signal it reads (one signal per connector);
/// every pipeline that lists it as a receiver is named (or it would never receive anything).
fn check_named_pipelines(
    cfg: &GatewayConfig,
    id: &str,
    c: &dyn ConnectorType,
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    let named = c.named_pipelines();
    if named.is_empty() {
        return;
    }
    let upstream = used_signals(cfg, id, |p| &p.exporters);
    if upstream.len() > 1 {
        let names: Vec<String> = upstream.iter().map(ToString::to_string).collect();
        out.push(Diagnostic::error(
            path,
            format!(
                "exported to by {} pipelines: it routes one signal, define one per signal \
                 (e.g. {}/logs, {}/metrics)",
                names.join(" and "),
                component_type(id),
                component_type(id)
            ),
        ));
    }
    let read = upstream.first().copied().filter(|_| upstream.len() == 1);
    for (field, pid) in &named {
        let at = join(path, field);
        let Some(p) = cfg.service.pipelines.get(pid) else {
            out.push(Diagnostic::error(
                at,
                format!("pipeline {pid:?} is not defined under service.pipelines"),
            ));
            continue;
        };
        if !p.receivers.iter().any(|r| r == id) {
            out.push(Diagnostic::error(
                at.clone(),
                format!("pipeline {pid:?} does not list {id:?} among its receivers"),
            ));
        }
        if let (Some(read), Some(signal)) = (read, Signal::parse(component_type(pid))) {
            if read != signal {
                out.push(Diagnostic::error(
                    at,
                    format!(
                        "{pid:?} is a {signal} pipeline: {id:?} reads {read} pipelines and \
                         feeds pipelines of the same signal"
                    ),
                ));
            }
        }
    }
    for (pid, p) in &cfg.service.pipelines {
        for (i, r) in p.receivers.iter().enumerate() {
            if r == id && !named.iter().any(|(_, n)| n == pid) {
                out.push(Diagnostic::error(
                    format!(
                        "{}[{i}]",
                        join(&join("service.pipelines", pid), "receivers")
                    ),
                    format!(
                        "{id:?} does not name {pid:?} (connectors.{id}): this pipeline would \
                         never receive anything from it"
                    ),
                ));
            }
        }
    }
}

/// Pipelines linked through connectors (`A` exports to a connector that `B` receives from)
/// must not loop back: data would circle forever. Each cycle found is reported once, at the
/// exporters of the pipeline where it closes.
fn check_connector_cycles(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    let pipelines = &cfg.service.pipelines;
    let next: BTreeMap<&String, Vec<&String>> = pipelines
        .iter()
        .map(|(id, p)| {
            let to = pipelines
                .iter()
                .filter(|(_, q)| {
                    p.exporters
                        .iter()
                        .any(|e| cfg.connectors.contains_key(e) && q.receivers.contains(e))
                })
                .map(|(id, _)| id)
                .collect();
            (id, to)
        })
        .collect();
    // Depth-first, 3 colours: on the current path (`path`), done (`done`), unseen.
    fn visit<'a>(
        n: &'a String,
        next: &BTreeMap<&'a String, Vec<&'a String>>,
        path: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
        out: &mut Vec<Diagnostic>,
    ) {
        path.push(n);
        for m in next.get(n).into_iter().flatten() {
            if let Some(at) = path.iter().position(|p| p == m) {
                let cycle: Vec<&str> = path[at..].iter().map(|s| s.as_str()).collect();
                out.push(Diagnostic::error(
                    join(&join("service.pipelines", n), "exporters"),
                    format!(
                        "connectors make a cycle: {} -> {m}: data would circle forever",
                        cycle.join(" -> ")
                    ),
                ));
            } else if !done.contains(m) {
                visit(m, next, path, done, out);
            }
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for start in pipelines.keys() {
        if !done.contains(start) {
            visit(start, &next, &mut Vec::new(), &mut done, out);
        }
    }
}

/// Signals of the pipelines that list component `id` (in the list chosen by `list`).
fn used_signals(
    cfg: &GatewayConfig,
    id: &str,
    list: impl Fn(&PipelineConfig) -> &Vec<String>,
) -> BTreeSet<Signal> {
    cfg.pipelines()
        .filter(|(_, _, p)| list(p).iter().any(|x| x == id))
        .map(|(_, signal, _)| signal)
        .collect()
}

/// How a pipeline list entry resolves: not defined, or the signals it supports and the
/// section it was found in.
type Resolved = Option<(&'static [Signal], &'static str)>;

/// Resolves the entries of each of a pipeline's three lists.
fn resolve<'a>(cfg: &'a GatewayConfig, kind: &str) -> impl Fn(&str) -> Resolved + 'a {
    let kind = kind.to_string();
    move |id: &str| match kind.as_str() {
        "receivers" => cfg
            .receivers
            .get(id)
            .map(|r| (r.get().signals(), "receivers"))
            .or_else(|| {
                cfg.connectors
                    .get(id)
                    .map(|c| (c.get().feeds(), "connectors"))
            }),
        "processors" => cfg
            .processors
            .get(id)
            .map(|p| (p.get().signals(), "processors")),
        _ => cfg
            .exporters
            .get(id)
            .map(|e| (e.get().signals(), "exporters"))
            .or_else(|| {
                cfg.connectors
                    .get(id)
                    .map(|c| (c.get().reads(), "connectors"))
            }),
    }
}

fn check_pipelines(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    if cfg.service.pipelines.is_empty() {
        out.push(Diagnostic::error(
            "service.pipelines",
            "at least one pipeline (traces, metrics or logs) is required",
        ));
    }
    let mut used: BTreeSet<(&str, String)> = BTreeSet::new();
    for (pid, p) in &cfg.service.pipelines {
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
        check_placement(cfg, &path, p, out);
        for (kind, list) in [
            ("receivers", &p.receivers),
            ("processors", &p.processors),
            ("exporters", &p.exporters),
        ] {
            if list.is_empty() && kind != "processors" {
                out.push(Diagnostic::error(
                    join(&path, kind),
                    format!("a pipeline needs at least one {}", &kind[..kind.len() - 1]),
                ));
            }
            check_list(
                &path,
                kind,
                list,
                signal,
                &resolve(cfg, kind),
                &mut used,
                out,
            );
        }
    }
    warn_unused(cfg, &used, out);
}

/// One of a pipeline's lists: each entry defined once and supporting the pipeline's signal.
fn check_list(
    path: &str,
    kind: &str,
    list: &[String],
    signal: Signal,
    resolve: &dyn Fn(&str) -> Resolved,
    used: &mut BTreeSet<(&'static str, String)>,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen = BTreeSet::new();
    for (i, id) in list.iter().enumerate() {
        let item = format!("{}[{i}]", join(path, kind));
        if !seen.insert(id) {
            out.push(Diagnostic::error(item, format!("{id:?} is listed twice")));
            continue;
        }
        match resolve(id) {
            None => out.push(Diagnostic::error(
                item,
                format!("{id:?} is not defined under {kind}:"),
            )),
            Some((signals, section)) if !signals.contains(&signal) => {
                let names: Vec<String> = signals.iter().map(ToString::to_string).collect();
                let names = names.join(" and ");
                let what = match (section, kind) {
                    ("connectors", "receivers") => format!("feeds {names} pipelines"),
                    ("connectors", _) => format!("reads {names} pipelines"),
                    ("exporters", _) => format!("exports {names} only"),
                    ("receivers", _) => format!("receives {names} only"),
                    _ => format!("runs in {names} pipelines only"),
                };
                out.push(Diagnostic::error(
                    item,
                    format!(
                        "{id:?} does not support {signal} ({} {what})",
                        component_type(id)
                    ),
                ))
            }
            Some((_, section)) => {
                used.insert((section, id.clone()));
            }
        }
    }
}

/// `memory_limiter` first, `batch` last (and whatever else a processor type asks).
fn check_placement(cfg: &GatewayConfig, path: &str, p: &PipelineConfig, out: &mut Vec<Diagnostic>) {
    let last = p.processors.len().saturating_sub(1);
    for (pos, id) in p.processors.iter().enumerate() {
        let Some(pc) = cfg.processors.get(id) else {
            continue;
        };
        let wrong = match pc.get().placement() {
            Placement::First if pos != 0 => "the first",
            Placement::Last if pos != last => "the last",
            _ => continue,
        };
        out.push(Diagnostic::error(
            format!("{}[{pos}]", join(path, "processors")),
            format!("{} must be {wrong} processor of a pipeline", pc.type_name()),
        ));
    }
}

fn warn_unused(cfg: &GatewayConfig, used: &BTreeSet<(&str, String)>, out: &mut Vec<Diagnostic>) {
    let defined = cfg
        .receivers
        .keys()
        .map(|k| ("receivers", k))
        .chain(cfg.processors.keys().map(|k| ("processors", k)))
        .chain(cfg.exporters.keys().map(|k| ("exporters", k)))
        .chain(cfg.connectors.keys().map(|k| ("connectors", k)));
    for (kind, id) in defined {
        if !used.contains(&(kind, id.clone())) {
            out.push(Diagnostic::warning(
                join(kind, id),
                "defined but not used in any pipeline",
            ));
        }
    }
}

/// A metrics pipeline that feeds an exporter taking cumulative metrics only (Prometheus
/// remote write) needs a processor that makes them cumulative: Codex sends every sum and
/// histogram as delta, so without it the exporter would drop nearly everything.
fn check_cumulative_pipelines(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    for (pid, signal, p) in cfg.pipelines() {
        if signal != Signal::Metrics {
            continue;
        }
        if delivers_cumulative(cfg, p, 0) {
            continue;
        }
        for id in &p.exporters {
            if cfg
                .exporters
                .get(id)
                .is_some_and(|e| e.get().needs_cumulative())
            {
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

/// Whether what pipeline `p` hands its exporters is cumulative: it has a processor that makes
/// it so, or it is fed only by connectors whose output is cumulative — connectors that emit
/// cumulative data, or that forward what upstream pipelines delivering cumulative data send
/// them (`routing` after `delta_to_cumulative`).
fn delivers_cumulative(cfg: &GatewayConfig, p: &PipelineConfig, depth: usize) -> bool {
    let converts = p.processors.iter().any(|id| {
        cfg.processors
            .get(id)
            .is_some_and(|c| c.get().emits_cumulative())
    });
    converts
        || (!p.receivers.is_empty()
            && p.receivers.iter().all(|id| {
                let Some(c) = cfg.connectors.get(id) else {
                    return false;
                };
                let upstream: Vec<&PipelineConfig> = cfg
                    .service
                    .pipelines
                    .values()
                    .filter(|u| u.exporters.contains(id))
                    .collect();
                c.get().emits_cumulative()
                    || (c.get().forwards()
                        && depth < cfg.service.pipelines.len()
                        && !upstream.is_empty()
                        && upstream
                            .iter()
                            .all(|u| delivers_cumulative(cfg, u, depth + 1)))
            }))
}

/// Every listen address parses and is used once (receivers and the admin listener).
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
        for (field, endpoint) in r.get().endpoints() {
            claim(join(&join("receivers", id), &field), endpoint, out);
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
}

/// `service.telemetry`: a known log level and encoding, usable admin listener bounds.
fn check_telemetry(cfg: &GatewayConfig, out: &mut Vec<Diagnostic>) {
    let admin = &cfg.service.telemetry.metrics;
    let path = "service.telemetry.metrics";
    if admin.max_connections == 0 {
        out.push(Diagnostic::error(
            join(path, "max_connections"),
            "must be at least 1",
        ));
    }
    for (field, d) in [
        ("handshake_timeout", admin.handshake_timeout),
        ("idle_timeout", admin.idle_timeout),
    ] {
        if d.0.is_zero() {
            out.push(Diagnostic::error(join(path, field), "must be above 0"));
        }
    }
    let logs = &cfg.service.telemetry.logs;
    if let Some(level) = &logs.level {
        if crate::telemetry::parse_level(level).is_none() {
            out.push(Diagnostic::error(
                "service.telemetry.logs.level",
                format!("unknown level {level:?} (error, warn, info, debug, trace)"),
            ));
        }
    }
    if let Some(enc) = &logs.encoding {
        if enc != "text" && enc != "json" {
            out.push(Diagnostic::error(
                "service.telemetry.logs.encoding",
                format!("unknown encoding {enc:?} (text or json)"),
            ));
        }
    }
}
