//! `routing` connector: sends each part of a request to the pipelines of the first route whose
//! condition it matches, and what no route matches to `default_pipelines`, in the shape of the
//! OpenTelemetry Collector's routing connector — with explicit matchers instead of OTTL.
//!
//! Place in the flow: the exporter of one pipeline per signal (`logs/in`, after the processors
//! that set the attributes it routes on, e.g. `team`), the receiver of the pipelines it routes
//! to (`logs/payments`, `logs/search`, `logs/other`), which hold each team's exporters.
//!
//! ```yaml
//! connectors:
//!   routing:
//!     default_pipelines: [logs/other]
//!     table:
//!       - name: payments                       # the `route` label (default: the index)
//!         condition: { resource: { team: payments } }
//!         pipelines: [logs/payments]
//!       - condition: { metadata: { auth.team: search } }
//!         pipelines: [logs/search]
//!       - condition:
//!           resource: { service.name: { regex: "^codex_" } }
//!           attributes: { event.name: codex.tool_result }
//!         pipelines: [logs/tools]
//! ```
//!
//! A condition has matchers under `resource` (resource attributes), `attributes` (the item's
//! own: span, log record or data point attributes) and `metadata` (request metadata: HTTP
//! headers / gRPC metadata, and `auth.<key>` from the receiver's `auth`), each a map of key →
//! value (equal as text: `200` matches `"200"` and 200) or `{ regex: ... }` (unanchored); a
//! missing key does not match, and every matcher of a condition must hold.
//!
//! Semantics follow the Collector's (since `match_once` was removed in v0.120.0): routes are
//! tried in order and each item goes to the **first** route it matches, never to two; what no
//! route matches goes to `default_pipelines`, or is dropped and counted when there are none. A
//! route's level is the finest part its condition names: `metadata` only → the whole request
//! (the Collector's `request` context), `resource` → whole resources (`resource` context),
//! `attributes` → single items (`log`, `span`, `datapoint` contexts). A request is split into
//! one request per route that got items ([`processors::Partition`]); a part keeps its items'
//! resource and scope, and a request that goes to one route whole is not copied.
//!
//! Counted by the link ([`super::ConnectorLink`]): `gateway_connector_routed{connector,route}`
//! per route, `gateway_connector_unmatched{connector}`, and `gateway_connector_dropped` for
//! unmatched items without default pipelines and for parts their pipelines refused.

use super::{Connector, ConnectorType, Counted, Emitted, Output};
use crate::codec::Payload;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use processors::filter::{AttributeMatch, AttributeTest};
use processors::{find_attr, BuildError, Metadata, Partition, ProcessContext, Signal};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// `connectors: routing[/name]:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Pipelines that get what no route matches. Default: none — unmatched data is dropped and
    /// counted (`gateway_connector_unmatched`, `gateway_connector_dropped`).
    #[serde(default)]
    pub default_pipelines: Vec<String>,
    /// The routes, tried in order; each item goes to the first one it matches. Required: at
    /// least one.
    #[serde(default)]
    pub table: Vec<RouteConfig>,
}

/// One route of `table`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The `route` label of `gateway_connector_routed`. Default: the route's index in `table`.
    #[serde(default)]
    pub name: Option<String>,
    /// What an item must match. Required: at least one matcher.
    pub condition: ConditionConfig,
    /// The pipelines that get what this route matches. Required: at least one.
    pub pipelines: Vec<String>,
}

/// A route's condition: every matcher must hold. Each part maps a key to a value (equal as
/// text) or `{ regex: ... }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct ConditionConfig {
    /// Resource attributes, e.g. `{ team: payments }`. Default: none.
    #[serde(default)]
    pub resource: BTreeMap<String, AttributeMatch>,
    /// The item's own attributes (span, log record or data point). Default: none.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeMatch>,
    /// Request metadata (case-insensitive keys), e.g. `{ auth.team: payments }` or
    /// `{ x-tenant: acme }`. Default: none.
    #[serde(default)]
    pub metadata: BTreeMap<String, AttributeMatch>,
}

impl<'de> Deserialize<'de> for ConditionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConditionConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with `resource`, `attributes` and/or `metadata` matchers")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ConditionConfig, E> {
                Err(E::custom(
                    "OTTL conditions are not supported: write matchers, e.g. \
                     `{ resource: { team: payments } }` or `{ metadata: { auth.team: payments } }`",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConditionConfig, A::Error> {
                ConditionConfig::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `route` label of route `i`: its name, or its index.
fn label(i: usize, route: &RouteConfig) -> String {
    route.name.clone().unwrap_or_else(|| i.to_string())
}

/// What a route's condition looks at, from coarsest to finest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// Metadata only: the whole request.
    Request,
    /// Resource attributes (and metadata): whole resources.
    Resource,
    /// Item attributes (and the rest): single items.
    Item,
}

type Matchers = Vec<(String, AttributeTest)>;

#[derive(Debug)]
struct Route {
    level: Level,
    metadata: Matchers,
    resource: Matchers,
    attributes: Matchers,
}

/// The built `routing` connector.
#[derive(Debug)]
pub struct Routing {
    routes: Vec<Route>,
    outputs: Vec<Output>,
}

impl RoutingConfig {
    /// Checks every route and builds the connector; all problems at once.
    pub fn build(&self) -> Result<Routing, Vec<BuildError>> {
        let mut errors = Vec::new();
        if self.table.is_empty() {
            errors.push(BuildError::field(
                "table",
                "list at least one route (what no route matches goes to default_pipelines)",
            ));
        }
        let mut labels = BTreeSet::new();
        let mut routes = Vec::new();
        for (i, rc) in self.table.iter().enumerate() {
            let path = format!("table[{i}]");
            if rc.name.as_deref().is_some_and(str::is_empty) {
                errors.push(BuildError::field(
                    format!("{path}.name"),
                    "must not be empty",
                ));
            } else if !labels.insert(label(i, rc)) {
                errors.push(BuildError::field(
                    format!("{path}.name"),
                    format!("route label {:?} is used twice", label(i, rc)),
                ));
            }
            check_pipelines(
                &format!("{path}.pipelines"),
                &rc.pipelines,
                true,
                &mut errors,
            );
            if let Some(route) =
                build_route(&format!("{path}.condition"), &rc.condition, &mut errors)
            {
                routes.push(route);
            }
        }
        check_pipelines(
            "default_pipelines",
            &self.default_pipelines,
            false,
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut outputs: Vec<Output> = self
            .table
            .iter()
            .enumerate()
            .map(|(i, rc)| Output {
                pipelines: Some(rc.pipelines.clone()),
                counted: Counted::Route(label(i, rc)),
            })
            .collect();
        outputs.push(Output {
            pipelines: Some(self.default_pipelines.clone()),
            counted: Counted::Unmatched,
        });
        Ok(Routing { routes, outputs })
    }
}

/// A pipeline list: not empty when `required`, no pipeline twice.
fn check_pipelines(path: &str, list: &[String], required: bool, errors: &mut Vec<BuildError>) {
    if required && list.is_empty() {
        errors.push(BuildError::field(path, "list at least one pipeline"));
    }
    let mut seen = BTreeSet::new();
    for (j, id) in list.iter().enumerate() {
        if !seen.insert(id) {
            errors.push(BuildError::field(
                format!("{path}[{j}]"),
                format!("{id:?} is listed twice"),
            ));
        }
    }
}

/// One route's matchers; `None` (with the problems in `errors`) when any is wrong.
fn build_route(path: &str, c: &ConditionConfig, errors: &mut Vec<BuildError>) -> Option<Route> {
    let before = errors.len();
    let mut part = |name: &str, map: &BTreeMap<String, AttributeMatch>| -> Matchers {
        let mut out = Vec::with_capacity(map.len());
        for (key, m) in map {
            let at = format!("{path}.{name}.{key}");
            if key.is_empty() {
                errors.push(BuildError::field(format!("{path}.{name}"), "empty key"));
                continue;
            }
            match m.build(&at) {
                Ok(test) => out.push((key.clone(), test)),
                Err(e) => errors.push(e),
            }
        }
        out
    };
    let route = Route {
        metadata: part("metadata", &c.metadata),
        resource: part("resource", &c.resource),
        attributes: part("attributes", &c.attributes),
        level: if !c.attributes.is_empty() {
            Level::Item
        } else if !c.resource.is_empty() {
            Level::Resource
        } else {
            Level::Request
        },
    };
    if c.metadata.is_empty() && c.resource.is_empty() && c.attributes.is_empty() {
        errors.push(BuildError::field(
            path,
            "needs at least one matcher under `resource`, `attributes` or `metadata` (what no \
             route matches goes to default_pipelines)",
        ));
    }
    (errors.len() == before).then_some(route)
}

/// Whether every matcher holds on `attrs`.
fn holds(matchers: &Matchers, attrs: &[KeyValue]) -> bool {
    matchers
        .iter()
        .all(|(k, t)| find_attr(attrs, k).is_some_and(|v| t.matches(v)))
}

impl Route {
    fn metadata_holds(&self, md: &Metadata) -> bool {
        self.metadata
            .iter()
            .all(|(k, t)| md.get(k).is_some_and(|v| t.matches_text(v)))
    }

    fn resource_holds(&self, r: Option<&Resource>) -> bool {
        self.resource.is_empty() || r.is_some_and(|r| holds(&self.resource, &r.attributes))
    }
}

impl Routing {
    /// The route (index) of a whole resource, or `None` when an item-level route may take some
    /// of its items. `live`: the routes whose metadata matchers hold, in order.
    fn by_resource(&self, live: &[(u32, &Route)], r: Option<&Resource>) -> Option<u32> {
        for (i, route) in live {
            match route.level {
                Level::Request => return Some(*i),
                Level::Resource if route.resource_holds(r) => return Some(*i),
                Level::Item if route.resource_holds(r) => return None,
                _ => {}
            }
        }
        Some(self.routes.len() as u32)
    }

    /// The route (index) of one item.
    fn by_item(&self, live: &[(u32, &Route)], r: Option<&Resource>, attrs: &[KeyValue]) -> u32 {
        for (i, route) in live {
            let matched = route.resource_holds(r)
                && (route.level != Level::Item || holds(&route.attributes, attrs));
            if matched {
                return *i;
            }
        }
        self.routes.len() as u32
    }

    /// Splits `req` by route: one request per route (or the default output) that got items.
    fn route<R>(&self, req: Cow<'_, R>, metadata: &Metadata) -> Emitted
    where
        R: Partition + Into<Payload>,
    {
        let live: Vec<(u32, &Route)> = (0u32..)
            .zip(&self.routes)
            .filter(|(_, r)| r.metadata_holds(metadata))
            .collect();
        let keys = req.item_keys(
            |r| self.by_resource(&live, r),
            |r, attrs| self.by_item(&live, r, attrs),
        );
        if let Some(k) = keys.single() {
            return vec![(k as usize, req.into_owned().into())];
        }
        req.into_owned()
            .partition(&keys)
            .into_iter()
            .map(|(k, part)| (k as usize, part.into()))
            .collect()
    }
}

impl ConnectorType for RoutingConfig {
    fn reads(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn feeds(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn emits_cumulative(&self) -> bool {
        false
    }

    fn forwards(&self) -> bool {
        true
    }

    fn named_pipelines(&self) -> Vec<(String, String)> {
        let routes = self.table.iter().enumerate().flat_map(|(i, r)| {
            r.pipelines
                .iter()
                .enumerate()
                .map(move |(j, p)| (format!("table[{i}].pipelines[{j}]"), p.clone()))
        });
        let defaults = self
            .default_pipelines
            .iter()
            .enumerate()
            .map(|(j, p)| (format!("default_pipelines[{j}]"), p.clone()));
        routes.chain(defaults).collect()
    }

    fn build(&self) -> Result<Arc<dyn Connector>, Vec<BuildError>> {
        Ok(Arc::new(RoutingConfig::build(self)?))
    }
}

impl Connector for Routing {
    fn outputs(&self) -> Vec<Output> {
        self.outputs.clone()
    }

    fn forwards(&self) -> bool {
        true
    }

    fn consume_traces(
        &self,
        req: Cow<'_, ExportTraceServiceRequest>,
        cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        self.route(req, cx.metadata())
    }

    fn consume_metrics(
        &self,
        req: Cow<'_, ExportMetricsServiceRequest>,
        cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        self.route(req, cx.metadata())
    }

    fn consume_logs(
        &self,
        req: Cow<'_, ExportLogsServiceRequest>,
        cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        self.route(req, cx.metadata())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use processors::OtlpRequest;
    use prost::Message;

    fn logs() -> ExportLogsServiceRequest {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        ExportLogsServiceRequest::decode(body.as_slice()).expect("decode")
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    /// The fixture's resource three times: `team: a`, `team: b`, and no team.
    fn three_teams() -> ExportLogsServiceRequest {
        let one = logs();
        let mut out = ExportLogsServiceRequest::default();
        for team in [Some("a"), Some("b"), None] {
            let mut r = one.resource_logs[0].clone();
            if let (Some(t), Some(res)) = (team, r.resource.as_mut()) {
                res.attributes.push(kv("team", t));
            }
            out.resource_logs.push(r);
        }
        out
    }

    fn routing(cfg: serde_json::Value) -> Routing {
        let cfg: RoutingConfig = serde_json::from_value(cfg).expect("config");
        cfg.build().expect("build")
    }

    fn teams_of(p: &Payload) -> Vec<String> {
        let Payload::Logs(r) = p else {
            panic!("logs expected")
        };
        r.resource_logs
            .iter()
            .map(|r| {
                r.resource
                    .as_ref()
                    .and_then(|r| find_attr(&r.attributes, "team"))
                    .and_then(processors::value_text)
                    .map(|t| t.into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    fn run(r: &Routing, req: &ExportLogsServiceRequest, md: &Metadata) -> Emitted {
        let mut cx = ProcessContext::new(md);
        r.consume_logs(Cow::Borrowed(req), &mut cx)
    }

    #[test]
    fn each_resource_goes_to_the_first_route_it_matches_and_the_rest_to_the_default() {
        let r = routing(serde_json::json!({
            "default_pipelines": ["logs/other"],
            "table": [
                { "condition": { "resource": { "team": "a" } }, "pipelines": ["logs/a"] },
                { "condition": { "resource": { "team": { "regex": "^(a|b)$" } } },
                  "pipelines": ["logs/ab"] },
            ]
        }));
        let req = three_teams();
        let out = run(&r, &req, &Metadata::default());
        let got: Vec<(usize, Vec<String>)> = out.iter().map(|(i, p)| (*i, teams_of(p))).collect();
        assert_eq!(
            got,
            vec![
                (0, vec!["a".to_string()]),
                (1, vec!["b".to_string()]),
                (2, vec![String::new()])
            ],
            "team a matches both routes but goes to the first only"
        );
        let n: usize = out.iter().map(|(_, p)| p.item_count()).sum();
        assert_eq!(n, req.item_count(), "nothing lost, nothing doubled");
        let outputs = r.outputs();
        assert_eq!(outputs[0].counted, Counted::Route("0".into()));
        assert_eq!(outputs[2].counted, Counted::Unmatched);
        assert_eq!(outputs[2].pipelines, Some(vec!["logs/other".to_string()]));
    }

    #[test]
    fn a_record_condition_moves_single_records_and_keeps_their_resource() {
        let r = routing(serde_json::json!({
            "table": [
                { "name": "tools",
                  "condition": { "resource": { "team": "a" },
                                 "attributes": { "event.name": "codex.tool_result" } },
                  "pipelines": ["logs/tools"] },
                { "condition": { "resource": { "team": "a" } }, "pipelines": ["logs/a"] },
            ]
        }));
        let req = three_teams();
        let tool_results = req.resource_logs[0]
            .scope_logs
            .iter()
            .flat_map(|s| &s.log_records)
            .filter(|l| {
                find_attr(&l.attributes, "event.name")
                    == Some(&any_value::Value::StringValue("codex.tool_result".into()))
            })
            .count();
        assert!(tool_results > 0, "the fixture has tool results");
        let out = run(&r, &req, &Metadata::default());
        let by_output: Vec<(usize, usize, Vec<String>)> = out
            .iter()
            .map(|(i, p)| (*i, p.item_count(), teams_of(p)))
            .collect();
        let per_resource = req.resource_logs[0]
            .scope_logs
            .iter()
            .map(|s| s.log_records.len())
            .sum::<usize>();
        assert_eq!(
            by_output,
            vec![
                (0, tool_results, vec!["a".to_string()]),
                (1, per_resource - tool_results, vec!["a".to_string()]),
                (2, 2 * per_resource, vec!["b".to_string(), String::new()]),
            ]
        );
        assert_eq!(r.outputs()[0].counted, Counted::Route("tools".into()));
    }

    #[test]
    fn a_metadata_condition_takes_the_whole_request_only_when_the_metadata_matches() {
        let r = routing(serde_json::json!({
            "default_pipelines": ["logs/other"],
            "table": [
                { "condition": { "metadata": { "auth.team": "a" } }, "pipelines": ["logs/a"] },
                { "condition": { "metadata": { "X-Tenant": { "regex": "^b" } } },
                  "pipelines": ["logs/b"] },
            ]
        }));
        let req = three_teams();
        let a = Metadata::from_pairs([("auth.team", "a")]);
        let b = Metadata::from_pairs([("x-tenant", "bravo")]);
        let none = Metadata::from_pairs([("auth.team", "c")]);
        let outputs =
            |md: &Metadata| -> Vec<usize> { run(&r, &req, md).iter().map(|o| o.0).collect() };
        assert_eq!(outputs(&a), vec![0]);
        assert_eq!(outputs(&b), vec![1]);
        assert_eq!(outputs(&none), vec![2]);
        let whole = run(&r, &req, &a);
        assert_eq!(
            whole[0].1,
            Payload::Logs(req.clone()),
            "sent whole, unchanged"
        );
    }

    #[test]
    fn every_problem_of_a_table_is_reported_with_its_path() {
        let errors = |v: serde_json::Value| -> Vec<String> {
            let cfg: RoutingConfig = serde_json::from_value(v).expect("config");
            cfg.build()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.to_string())
                .collect()
        };
        let empty = errors(serde_json::json!({ "default_pipelines": ["logs/x"] }));
        assert!(
            empty[0].starts_with("table: list at least one route"),
            "{empty:?}"
        );
        let bad = errors(serde_json::json!({
            "default_pipelines": ["logs/x", "logs/x"],
            "table": [
                { "condition": { "resource": { "team": { "regex": "(" } } }, "pipelines": ["logs/a"] },
                { "condition": {}, "pipelines": [] },
                { "name": "0", "condition": { "metadata": { "auth.team": "a" } }, "pipelines": ["logs/b"] },
            ]
        }));
        let has = |prefix: &str| bad.iter().any(|e| e.starts_with(prefix));
        assert!(
            has("table[0].condition.resource.team.regex: invalid regex"),
            "{bad:?}"
        );
        assert!(
            has("table[1].condition: needs at least one matcher"),
            "{bad:?}"
        );
        assert!(
            has("table[1].pipelines: list at least one pipeline"),
            "{bad:?}"
        );
        assert!(
            has("table[2].name: route label \"0\" is used twice"),
            "{bad:?}"
        );
        assert!(
            has("default_pipelines[1]: \"logs/x\" is listed twice"),
            "{bad:?}"
        );
        let ottl: Result<RoutingConfig, _> = serde_json::from_value(serde_json::json!({
            "table": [{ "condition": "attributes[\"team\"] == \"a\"", "pipelines": ["logs/a"] }]
        }));
        let msg = ottl.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("OTTL conditions are not supported"), "{msg}");
    }
}
