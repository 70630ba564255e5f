//! `team` processor: tags every span, metric data point and log record with `team`, `project` or
//! any other keys, chosen by ordered rules over resource attributes, record attributes and the
//! request's metadata (HTTP headers / gRPC metadata).
//!
//! Place in the flow: after `codex` (so values are typed and deduplicated) and after `redaction`
//! (so a rule cannot copy a secret into a tag), before `filter` and the exporters. Codex's own
//! `[otel.span_attributes]` reaches spans only; at the default `level: resource` this processor
//! tags the resource of every signal, so logs and metrics carry the team too.
//!
//! ```yaml
//! team:
//!   level: resource          # resource (default) | record
//!   overwrite: false         # keep keys that are already there (default)
//!   rules:
//!     - name: header         # label of the `team_tagged` counter (default: `rules[<index>]`)
//!       match:
//!         metadata: { key: x-codex-team, regex: "^(?P<team>[a-z0-9-]+)$" }
//!       set: { team: "${team}" }
//!     - match:
//!         resource_attribute: { key: service.name, value: codex_exec }
//!         metadata: { key: x-org, value: acme }
//!       set: { team: payments, project: checkout }
//!   default: { team: unknown }  # when no rule matches (default: { team: unknown })
//! ```
//!
//! At `level: record` a rule may also match the item's own attributes, e.g. the working directory
//! Codex puts on `run_sampling_request` spans:
//!
//! ```yaml
//! team:
//!   level: record
//!   rules:
//!     - match: { attribute: { key: cwd, regex: "/src/(?P<project>[^/]+)$" } }
//!       set: { project: "${project}" }
//!   default: {}
//! ```
//!
//! Matching is well defined per level:
//! - `level: resource` — conditions see the resource's attributes (`resource_attribute`) and the
//!   request metadata (`metadata`); an `attribute` condition is a build error. The chosen keys are
//!   set on the resource, so every item under it is tagged.
//! - `level: record` — `attribute` conditions see the item's own attributes (span, data point or log
//!   record attributes; not span events), `resource_attribute` its resource, `metadata` the
//!   request. The chosen keys are set on the item.
//!
//! Identity from the receiver's authentication (`auth.<key>` request metadata, see the OTLP
//! receiver's `auth:`), or from any other metadata key, goes through `from_metadata` (metadata
//! key → attribute key): applied to every item besides the rules, and always overwriting (an
//! authenticated identity wins over what the client says about itself). With `metric_points:
//! true` (at `level: resource`) the tags chosen for a resource are also set on every metric data
//! point under it, for backends that drop resource attributes (Prometheus-style ones keep only
//! `job`/`instance` and `target_info`). So per-user and per-team dashboards work without Codex
//! sending any identity on its metrics:
//!
//! ```yaml
//! team:
//!   from_metadata: { auth.user: user, auth.team: team }
//!   metric_points: true
//! ```
//!
//! Counted as `team_tagged{label=<rule name, or rules[i]>}` and `team_tagged{label=default}`, in
//! items (spans, data points, log records) tagged, at both levels; `team_tagged{label=
//! from_metadata}` for items tagged from the metadata.

use crate::logs_view::LogsView;
use crate::value::{config_text, value_text};
use crate::{BuildError, ConfigValue, Metadata, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::{Captures, Regex};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Counter label used when no rule matched and `default` was applied.
pub const DEFAULT_LABEL: &str = "default";

/// Where the chosen keys are written, and what `match` may look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamLevel {
    /// On each resource (default): one decision per resource, every signal tagged.
    #[default]
    Resource,
    /// On each span, metric data point and log record.
    Record,
}

/// Config of the `team` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Rules, evaluated in order; the first whose `match` holds sets its keys. Default: none.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Keys set when no rule matches; literal values (no `$` expansion). `{}` tags nothing.
    /// Default: `{ team: unknown }`.
    #[serde(default = "default_tags")]
    pub default: BTreeMap<String, ConfigValue>,
    /// `resource` (default) or `record`: where keys are set and what rules can match.
    #[serde(default)]
    pub level: TeamLevel,
    /// Replace keys that already exist. Default: `false` (existing values are kept, e.g. a team
    /// set by Codex's own `[otel.span_attributes]` or by an upstream collector).
    #[serde(default)]
    pub overwrite: bool,
    /// Request metadata key → attribute key, set on every item (or resource) whose request has
    /// that metadata, besides the rules and always overwriting: e.g. `{ auth.user: user }` for
    /// the attributes of the receiver's `auth` credentials. Default: none.
    #[serde(default)]
    pub from_metadata: BTreeMap<String, String>,
    /// At `level: resource`, also set the resource's tags on every metric data point under it.
    /// Default: `false`.
    #[serde(default)]
    pub metric_points: bool,
}

fn default_tags() -> BTreeMap<String, ConfigValue> {
    BTreeMap::from([("team".to_string(), ConfigValue::String("unknown".into()))])
}

impl Default for TeamConfig {
    fn default() -> Self {
        TeamConfig {
            rules: Vec::new(),
            default: default_tags(),
            level: TeamLevel::Resource,
            overwrite: false,
            from_metadata: BTreeMap::new(),
            metric_points: false,
        }
    }
}

/// One rule: when every condition of `match` holds, set the keys of `set`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Label of the `team_tagged` counter for this rule. Default: `rules[<index>]`.
    #[serde(default)]
    pub name: Option<String>,
    /// The conditions; at least one. Required.
    #[serde(rename = "match")]
    pub when: MatchConfig,
    /// Keys and values to set; at least one. Required. String values may use the capture groups
    /// of the rule's regexes: `$1` / `${1}` (numbered groups of the rule's **first** regex
    /// condition, `$0` = its whole match), `${name}` (named group, from the first regex condition
    /// defining it); `$$` is a literal `$`. Prefer `${1}` over `$1` before letters or digits.
    pub set: BTreeMap<String, ConfigValue>,
}

/// The conditions of a rule, all of which must hold. Each kind takes one condition (a map) or a
/// list of them. Regex conditions are evaluated in the order `resource_attribute`, `attribute`,
/// `metadata` (this is the order `$1` / `${name}` look for groups in).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Conditions on resource attributes. Default: none.
    #[serde(default)]
    pub resource_attribute: Conditions,
    /// Conditions on the item's own attributes; `level: record` only. Default: none.
    #[serde(default)]
    pub attribute: Conditions,
    /// Conditions on request metadata (HTTP header / gRPC metadata, case-insensitive key, e.g.
    /// `x-codex-team`). Default: none.
    #[serde(default)]
    pub metadata: Conditions,
}

/// One condition or a list of them (YAML: a map or a sequence of maps).
#[derive(Debug, Clone, PartialEq)]
pub enum Conditions {
    /// Written as a single map; errors are reported at `...attribute.regex`.
    One(ConditionConfig),
    /// Written as a list; errors are reported at `...attribute[i].regex`.
    Many(Vec<ConditionConfig>),
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions::Many(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Conditions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition map or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Conditions, A::Error> {
                ConditionConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Conditions::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Conditions, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Conditions::Many)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Conditions, E> {
                Ok(Conditions::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Conditions, E> {
                Ok(Conditions::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl Conditions {
    /// `(path suffix, condition)` pairs: `""` for a single map, `"[i]"` for list entries.
    fn entries(&self) -> Vec<(String, &ConditionConfig)> {
        match self {
            Conditions::One(c) => vec![(String::new(), c)],
            Conditions::Many(v) => v
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("[{i}]"), c))
                .collect(),
        }
    }
}

/// A test on one value, found under `key`. A condition on a missing key does not hold.
///
/// Non-string attribute values are compared in their text form (`200`, `true`, `1.5`); arrays,
/// maps and bytes never match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Attribute or metadata key. Required.
    pub key: String,
    /// Holds when the value equals this (compared as text). One of `value` / `regex` is required.
    #[serde(default)]
    pub value: Option<ConfigValue>,
    /// Holds when this regex matches the value (unanchored: use `^…$` for whole values).
    #[serde(default)]
    pub regex: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Resource,
    Record,
    Metadata,
}

#[derive(Debug)]
enum Test {
    Equals(String),
    Regex(Regex),
}

#[derive(Debug)]
struct Condition {
    source: Source,
    key: String,
    test: Test,
}

#[derive(Debug)]
enum Piece {
    Literal(String),
    /// Group `group` of the regex of condition `cond`.
    Group {
        cond: usize,
        group: usize,
    },
}

#[derive(Debug)]
enum SetValue {
    Fixed(AnyValue),
    Template(Vec<Piece>),
}

#[derive(Debug)]
struct Rule {
    label: String,
    conditions: Vec<Condition>,
    set: Vec<(String, SetValue)>,
    has_templates: bool,
}

/// The built `team` processor.
#[derive(Debug)]
pub struct TeamProcessor {
    rules: Vec<Rule>,
    default: Vec<(String, AnyValue)>,
    level: TeamLevel,
    overwrite: bool,
    from_metadata: Vec<(String, String)>,
    metric_points: bool,
}

/// Counter label of items tagged from `from_metadata`.
pub const FROM_METADATA_LABEL: &str = "from_metadata";

impl TeamConfig {
    /// Checks every rule and builds the processor; all problems are returned at once.
    pub fn build(&self) -> Result<TeamProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, rc) in self.rules.iter().enumerate() {
            if let Some(rule) = self.build_rule(i, rc, &mut errors) {
                rules.push(rule);
            }
        }
        for key in self.default.keys() {
            if key.is_empty() {
                errors.push(BuildError::field("default", "empty key"));
            }
        }
        for (from, to) in &self.from_metadata {
            if from.is_empty() || to.is_empty() {
                errors.push(BuildError::field(
                    format!("from_metadata.{from}"),
                    "metadata key and attribute key must not be empty",
                ));
            }
        }
        if self.metric_points && self.level == TeamLevel::Record {
            errors.push(BuildError::field(
                "metric_points",
                "only with `level: resource` (at `level: record` the points are tagged anyway)",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TeamProcessor {
            rules,
            default: self
                .default
                .iter()
                .map(|(k, v)| (k.clone(), v.to_any_value()))
                .collect(),
            level: self.level,
            overwrite: self.overwrite,
            from_metadata: self
                .from_metadata
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            metric_points: self.metric_points,
        })
    }

    fn build_rule(&self, i: usize, rc: &RuleConfig, errors: &mut Vec<BuildError>) -> Option<Rule> {
        let path = format!("rules[{i}]");
        let before = errors.len();
        let label = rule_label(&path, rc, errors);
        let conditions = self.rule_conditions(&path, rc, errors);
        let (set, has_templates) = rule_set(&path, rc, &conditions, errors);
        (errors.len() == before).then_some(Rule {
            label,
            conditions,
            set,
            has_templates,
        })
    }

    /// The conditions of rule `path` (`match:`), at least one.
    fn rule_conditions(
        &self,
        path: &str,
        rc: &RuleConfig,
        errors: &mut Vec<BuildError>,
    ) -> Vec<Condition> {
        let mut conditions = Vec::new();
        let kinds = [
            (
                "resource_attribute",
                Source::Resource,
                &rc.when.resource_attribute,
            ),
            ("attribute", Source::Record, &rc.when.attribute),
            ("metadata", Source::Metadata, &rc.when.metadata),
        ];
        for (kind, source, list) in kinds {
            for (suffix, c) in list.entries() {
                let cpath = format!("{path}.match.{kind}{suffix}");
                if source == Source::Record && self.level == TeamLevel::Resource {
                    errors.push(BuildError::field(
                        &cpath,
                        "record attributes are only visible with `level: record`; \
                         use `resource_attribute` at `level: resource`",
                    ));
                    continue;
                }
                if let Some(cond) = build_condition(&cpath, source, c, errors) {
                    conditions.push(cond);
                }
            }
        }
        if rc.when.resource_attribute.entries().is_empty()
            && rc.when.attribute.entries().is_empty()
            && rc.when.metadata.entries().is_empty()
        {
            errors.push(BuildError::field(
                format!("{path}.match"),
                "needs at least one condition (`resource_attribute`, `attribute` or `metadata`)",
            ));
        }
        conditions
    }
}

/// The label of rule `path`: its `name`, else its path.
fn rule_label(path: &str, rc: &RuleConfig, errors: &mut Vec<BuildError>) -> String {
    match &rc.name {
        Some(n) if n.is_empty() => {
            errors.push(BuildError::field(
                format!("{path}.name"),
                "must not be empty",
            ));
            String::new()
        }
        Some(n) if n == DEFAULT_LABEL => {
            errors.push(BuildError::field(
                format!("{path}.name"),
                "`default` is reserved for the default tags",
            ));
            String::new()
        }
        Some(n) => n.clone(),
        None => path.to_string(),
    }
}

/// What rule `path` sets (`set:`, at least one key), and whether any value is a template.
fn rule_set(
    path: &str,
    rc: &RuleConfig,
    conditions: &[Condition],
    errors: &mut Vec<BuildError>,
) -> (Vec<(String, SetValue)>, bool) {
    if rc.set.is_empty() {
        errors.push(BuildError::field(
            format!("{path}.set"),
            "needs at least one key",
        ));
    }
    let mut set = Vec::with_capacity(rc.set.len());
    let mut has_templates = false;
    for (key, value) in &rc.set {
        if key.is_empty() {
            errors.push(BuildError::field(format!("{path}.set"), "empty key"));
            continue;
        }
        let ConfigValue::String(text) = value else {
            set.push((key.clone(), SetValue::Fixed(value.to_any_value())));
            continue;
        };
        match build_template(text, conditions) {
            Ok(pieces) if pieces.iter().all(|p| matches!(p, Piece::Literal(_))) => {
                let literal: String = pieces
                    .into_iter()
                    .map(|p| match p {
                        Piece::Literal(s) => s,
                        Piece::Group { .. } => String::new(),
                    })
                    .collect();
                set.push((
                    key.clone(),
                    SetValue::Fixed(ConfigValue::String(literal).to_any_value()),
                ));
            }
            Ok(pieces) => {
                has_templates = true;
                set.push((key.clone(), SetValue::Template(pieces)));
            }
            Err(msg) => errors.push(BuildError::field(format!("{path}.set.{key}"), msg)),
        }
    }
    (set, has_templates)
}

fn build_condition(
    path: &str,
    source: Source,
    c: &ConditionConfig,
    errors: &mut Vec<BuildError>,
) -> Option<Condition> {
    if c.key.is_empty() {
        errors.push(BuildError::field(
            format!("{path}.key"),
            "must not be empty",
        ));
        return None;
    }
    let test = match (&c.value, &c.regex) {
        (Some(v), None) => Test::Equals(config_text(v)),
        (None, Some(re)) => match Regex::new(re) {
            Ok(re) => Test::Regex(re),
            Err(e) => {
                errors.push(BuildError::field(
                    format!("{path}.regex"),
                    format!("invalid regex {re:?}: {e}"),
                ));
                return None;
            }
        },
        _ => {
            errors.push(BuildError::field(
                path,
                "needs exactly one of `value` or `regex`",
            ));
            return None;
        }
    };
    Some(Condition {
        source,
        key: c.key.clone(),
        test,
    })
}

/// Parses `text` into literals and group references resolved against the rule's conditions.
fn build_template(text: &str, conditions: &[Condition]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        lit.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {text:?}"))?;
            let name = &braced[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("invalid group reference `${{{name}}}` in {text:?}"));
            }
            (Some(name), end + 2)
        } else if after.starts_with('$') {
            lit.push('$');
            (None, 1)
        } else {
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if len == 0 {
                lit.push('$');
                (None, 0)
            } else {
                (Some(&after[..len]), len)
            }
        };
        rest = &after[consumed..];
        if let Some(name) = name {
            if !lit.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut lit)));
            }
            pieces.push(resolve_group(name, conditions)?);
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(lit));
    }
    Ok(pieces)
}

fn resolve_group(name: &str, conditions: &[Condition]) -> Result<Piece, String> {
    let regexes = conditions
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.test {
            Test::Regex(re) => Some((i, re)),
            Test::Equals(_) => None,
        });
    if let Ok(n) = name.parse::<usize>() {
        let Some((cond, re)) = regexes.into_iter().next() else {
            return Err(format!(
                "`${name}` refers to a capture group but the rule has no `regex` condition"
            ));
        };
        if n >= re.captures_len() {
            return Err(format!(
                "`${name}`: the rule's first regex {:?} has only {} group(s)",
                re.as_str(),
                re.captures_len() - 1
            ));
        }
        return Ok(Piece::Group { cond, group: n });
    }
    for (cond, re) in regexes {
        if let Some(group) = re.capture_names().position(|g| g == Some(name)) {
            return Ok(Piece::Group { cond, group });
        }
    }
    Err(format!(
        "`${{{name}}}`: no regex condition of the rule has a group named {name:?}"
    ))
}

/// What a rule (or the default) decided for one resource or item.
struct Decision {
    /// Index into `rules`, or `None` for the default.
    rule: Option<usize>,
    values: Vec<(String, AnyValue)>,
}

impl TeamProcessor {
    fn lookup<'a>(
        c: &Condition,
        resource: &'a [KeyValue],
        record: &'a [KeyValue],
        md: &'a Metadata,
    ) -> Option<Cow<'a, str>> {
        match c.source {
            Source::Resource => crate::find_attr(resource, &c.key).and_then(value_text),
            Source::Record => crate::find_attr(record, &c.key).and_then(value_text),
            Source::Metadata => md.get(&c.key).map(Cow::Borrowed),
        }
    }

    fn holds(test: &Test, text: &str) -> bool {
        match test {
            Test::Equals(v) => v == text,
            Test::Regex(re) => re.is_match(text),
        }
    }

    /// Evaluates one rule; on a match, returns the values to set.
    fn evaluate(
        rule: &Rule,
        resource: &[KeyValue],
        record: &[KeyValue],
        md: &Metadata,
    ) -> Option<Vec<(String, AnyValue)>> {
        if !rule.has_templates {
            let all = rule.conditions.iter().all(|c| {
                Self::lookup(c, resource, record, md).is_some_and(|t| Self::holds(&c.test, &t))
            });
            return all.then(|| {
                rule.set
                    .iter()
                    .filter_map(|(k, v)| match v {
                        SetValue::Fixed(v) => Some((k.clone(), v.clone())),
                        SetValue::Template(_) => None,
                    })
                    .collect()
            });
        }
        let texts: Vec<Cow<'_, str>> = rule
            .conditions
            .iter()
            .map(|c| Self::lookup(c, resource, record, md))
            .collect::<Option<_>>()?;
        let mut caps: Vec<Option<Captures<'_>>> = Vec::with_capacity(texts.len());
        for (c, text) in rule.conditions.iter().zip(&texts) {
            match &c.test {
                Test::Equals(v) if v == text => caps.push(None),
                Test::Regex(re) => caps.push(Some(re.captures(text)?)),
                Test::Equals(_) => return None,
            }
        }
        let values = rule
            .set
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    SetValue::Fixed(v) => v.clone(),
                    SetValue::Template(pieces) => {
                        let mut out = String::new();
                        for p in pieces {
                            match p {
                                Piece::Literal(s) => out.push_str(s),
                                Piece::Group { cond, group } => {
                                    if let Some(m) = caps
                                        .get(*cond)
                                        .and_then(|c| c.as_ref())
                                        .and_then(|c| c.get(*group))
                                    {
                                        out.push_str(m.as_str());
                                    }
                                }
                            }
                        }
                        ConfigValue::String(out).to_any_value()
                    }
                };
                (k.clone(), value)
            })
            .collect();
        Some(values)
    }

    /// First matching rule, else the default (unless it is empty).
    fn decide(
        &self,
        resource: &[KeyValue],
        record: &[KeyValue],
        md: &Metadata,
    ) -> Option<Decision> {
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(values) = Self::evaluate(rule, resource, record, md) {
                return Some(Decision {
                    rule: Some(i),
                    values,
                });
            }
        }
        (!self.default.is_empty()).then(|| Decision {
            rule: None,
            values: self.default.clone(),
        })
    }

    fn set(&self, attrs: &mut Vec<KeyValue>, values: &[(String, AnyValue)], overwrite: bool) {
        for (key, value) in values {
            match attrs.iter_mut().find(|kv| kv.key == *key) {
                Some(kv) if overwrite => kv.value = Some(value.clone()),
                Some(_) => {}
                None => attrs.push(KeyValue {
                    key: key.clone(),
                    value: Some(value.clone()),
                    ..Default::default()
                }),
            }
        }
    }

    /// Sets a resource's tags on one of its data points: identity keys overwrite, the others
    /// follow `overwrite`.
    fn set_on_point(&self, attrs: &mut Vec<KeyValue>, tags: &[(String, AnyValue)]) {
        for (k, v) in tags {
            let identity = self.from_metadata.iter().any(|(_, to)| to == k);
            self.set(
                attrs,
                std::slice::from_ref(&(k.clone(), v.clone())),
                identity || self.overwrite,
            );
        }
    }

    /// The `from_metadata` tags of this request.
    fn identity(&self, md: &Metadata) -> Vec<(String, AnyValue)> {
        self.from_metadata
            .iter()
            .filter_map(|(from, to)| {
                md.get(from).map(|v| {
                    (
                        to.clone(),
                        ConfigValue::String(v.to_string()).to_any_value(),
                    )
                })
            })
            .collect()
    }

    /// Tags `attrs` with the identity (overwriting), then the decision; returns what was set.
    fn apply(
        &self,
        attrs: &mut Vec<KeyValue>,
        identity: &[(String, AnyValue)],
        decision: Option<Decision>,
        items: u64,
        tally: &mut Tally,
    ) -> Vec<(String, AnyValue)> {
        let mut applied = Vec::new();
        if !identity.is_empty() {
            self.set(attrs, identity, true);
            tally.identity += items;
            applied.extend_from_slice(identity);
        }
        if let Some(d) = decision {
            self.set(attrs, &d.values, self.overwrite);
            tally.add(d.rule, items);
            applied.extend(d.values);
        }
        applied
    }

    /// Resource level: decide once for the resource, tag it, count its `items`; returns the
    /// tags as they now are on the resource.
    fn tag_resource(
        &self,
        resource: &mut Option<Resource>,
        items: usize,
        md: &Metadata,
        tally: &mut Tally,
    ) -> Vec<(String, AnyValue)> {
        let attrs: &[KeyValue] = resource.as_ref().map_or(&[], |r| &r.attributes);
        let decision = self.decide(attrs, &[], md);
        let identity = self.identity(md);
        if decision.is_none() && identity.is_empty() {
            return Vec::new();
        }
        let r = resource.get_or_insert_with(Resource::default);
        let applied = self.apply(&mut r.attributes, &identity, decision, items as u64, tally);
        // What the resource holds now (a kept existing value wins over the decision's).
        applied
            .into_iter()
            .filter_map(|(k, _)| {
                let v = r.attributes.iter().find(|kv| kv.key == k)?.value.clone()?;
                Some((k, v))
            })
            .collect()
    }

    /// Record level: decide for one item and tag it.
    fn tag_record(
        &self,
        resource: &[KeyValue],
        attrs: &mut Vec<KeyValue>,
        md: &Metadata,
        tally: &mut Tally,
    ) {
        let decision = self.decide(resource, attrs, md);
        let identity = self.identity(md);
        self.apply(attrs, &identity, decision, 1, tally);
    }

    fn tag_points(&self, resource: &[KeyValue], m: &mut Metric, md: &Metadata, tally: &mut Tally) {
        let mut each = |attrs: &mut Vec<KeyValue>| self.tag_record(resource, attrs, md, tally);
        crate::for_each_point_attributes(m, |a| each(a))
    }
}

/// Items tagged per rule (index `rules.len()` = default) in one request, and from metadata.
struct Tally {
    rules: Vec<u64>,
    identity: u64,
}

impl Tally {
    fn new(p: &TeamProcessor) -> Self {
        Tally {
            rules: vec![0; p.rules.len() + 1],
            identity: 0,
        }
    }

    fn add(&mut self, rule: Option<usize>, n: u64) {
        let last = self.rules.len() - 1;
        if let Some(slot) = self.rules.get_mut(rule.unwrap_or(last)) {
            *slot += n;
        }
    }

    fn report(&self, p: &TeamProcessor, cx: &mut ProcessContext<'_>) {
        for (i, n) in self.rules.iter().enumerate() {
            if *n > 0 {
                let label = p.rules.get(i).map_or(DEFAULT_LABEL, |r| r.label.as_str());
                cx.count("team_tagged", label, *n);
            }
        }
        if self.identity > 0 {
            cx.count("team_tagged", FROM_METADATA_LABEL, self.identity);
        }
    }
}

fn resource_attrs(r: &Option<Resource>) -> &[KeyValue] {
    r.as_ref().map_or(&[], |r| &r.attributes)
}

impl Processor for TeamProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, cx: &mut ProcessContext<'_>) {
        let md = cx.metadata();
        let mut tally = Tally::new(self);
        for rs in &mut req.resource_spans {
            match self.level {
                TeamLevel::Resource => {
                    let items = rs.scope_spans.iter().map(|s| s.spans.len()).sum();
                    self.tag_resource(&mut rs.resource, items, md, &mut tally);
                }
                TeamLevel::Record => {
                    let res = resource_attrs(&rs.resource);
                    for span in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
                        self.tag_record(res, &mut span.attributes, md, &mut tally);
                    }
                }
            }
        }
        tally.report(self, cx);
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        let md = cx.metadata();
        let mut tally = Tally::new(self);
        for rm in &mut req.resource_metrics {
            match self.level {
                TeamLevel::Resource => {
                    let items = rm
                        .scope_metrics
                        .iter()
                        .flat_map(|s| &s.metrics)
                        .map(crate::metric_point_count)
                        .sum();
                    let tags = self.tag_resource(&mut rm.resource, items, md, &mut tally);
                    if self.metric_points && !tags.is_empty() {
                        for m in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                            crate::for_each_point_attributes(m, |a| self.set_on_point(a, &tags));
                        }
                    }
                }
                TeamLevel::Record => {
                    let res = resource_attrs(&rm.resource);
                    for m in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                        self.tag_points(res, m, md, &mut tally);
                    }
                }
            }
        }
        tally.report(self, cx);
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        let md = cx.metadata();
        let mut tally = Tally::new(self);
        for rl in &mut req.resource_logs {
            match self.level {
                TeamLevel::Resource => {
                    let items = rl.scope_logs.iter().map(|s| s.log_records.len()).sum();
                    self.tag_resource(&mut rl.resource, items, md, &mut tally);
                }
                TeamLevel::Record => {
                    let res = resource_attrs(&rl.resource);
                    for lr in rl.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
                        self.tag_record(res, &mut lr.attributes, md, &mut tally);
                    }
                }
            }
        }
        tally.report(self, cx);
    }

    /// Resource level only: record-level rules read every record's attributes as decoded.
    fn handles_log_views(&self) -> bool {
        matches!(self.level, TeamLevel::Resource)
    }

    fn process_log_views(&self, logs: &mut LogsView<'_>, cx: &mut ProcessContext<'_>) {
        let md = cx.metadata();
        let mut tally = Tally::new(self);
        for rl in &mut logs.resource_logs {
            let items = rl.scope_logs.iter().map(|s| s.log_records.len()).sum();
            self.tag_resource(&mut rl.resource, items, md, &mut tally);
        }
        tally.report(self, cx);
    }
}

impl crate::Component for TeamConfig {
    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find_attr;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;

    fn fixture(path: &str) -> Vec<u8> {
        let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    fn config(json: &str) -> TeamConfig {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn build(json: &str) -> TeamProcessor {
        config(json).build().expect("valid config")
    }

    fn s(v: &str) -> Value {
        Value::StringValue(v.into())
    }

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn counts(cx: &ProcessContext<'_>) -> Vec<(String, u64)> {
        cx.counts()
            .iter()
            .map(|(name, l, n)| {
                assert_eq!(*name, "team_tagged");
                (l.clone(), *n)
            })
            .collect()
    }

    fn logs(resources: Vec<(Vec<KeyValue>, Vec<Vec<KeyValue>>)>) -> ExportLogsServiceRequest {
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        ExportLogsServiceRequest {
            resource_logs: resources
                .into_iter()
                .map(|(res, records)| ResourceLogs {
                    resource: Some(Resource {
                        attributes: res,
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: records
                            .into_iter()
                            .map(|attributes| LogRecord {
                                attributes,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn authenticated_identity_tags_every_signal_and_with_metric_points_every_data_point() {
        let p = build(
            r#"{"from_metadata": {"auth.user": "user", "auth.team": "team"},
                "metric_points": true,
                "rules": [{"name": "header", "match": {"metadata": {"key": "x-codex-team", "value": "forged"}},
                           "set": {"team": "forged", "project": "checkout"}}]}"#,
        );
        let md = Metadata::from_pairs([
            ("auth.user", "alice"),
            ("auth.team", "payments"),
            ("x-codex-team", "forged"),
        ]);
        let mut metrics = ExportMetricsServiceRequest::decode(
            fixture("failing-tool-loop-protobuf/004_metrics.pb").as_slice(),
        )
        .expect("metrics");
        // The client claims a user of its own on the resource: the authenticated one wins.
        metrics.resource_metrics[0]
            .resource
            .get_or_insert_with(Resource::default)
            .attributes
            .push(kv("user", s("mallory")));
        let mut cx = ProcessContext::new(&md);
        p.process_metrics(&mut metrics, &mut cx);
        let points = crate::metric_point_count;
        let n: u64 = metrics
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| points(m) as u64)
            .sum();
        assert!(n > 0);
        for rm in &metrics.resource_metrics {
            let res = &rm.resource.as_ref().expect("resource").attributes;
            assert_eq!(find_attr(res, "user"), Some(&s("alice")));
            assert_eq!(find_attr(res, "team"), Some(&s("payments")));
            assert_eq!(find_attr(res, "project"), Some(&s("checkout")));
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let mut m = m.clone();
                crate::for_each_point_attributes(&mut m, |a| {
                    assert_eq!(find_attr(a, "user"), Some(&s("alice")));
                    assert_eq!(find_attr(a, "team"), Some(&s("payments")));
                    assert_eq!(find_attr(a, "project"), Some(&s("checkout")));
                });
            }
        }
        assert!(counts(&cx).contains(&(FROM_METADATA_LABEL.to_string(), n)));
        // Without the metadata nothing is claimed for it; logs get the resource tags too.
        let mut l = logs(vec![(vec![], vec![vec![]])]);
        let none = Metadata::default();
        let mut cx = ProcessContext::new(&none);
        p.process_logs(&mut l, &mut cx);
        let res = &l.resource_logs[0].resource.as_ref().expect("r").attributes;
        assert_eq!(find_attr(res, "user"), None);
        assert_eq!(find_attr(res, "team"), Some(&s("unknown")));
        assert!(config(r#"{"level": "record", "metric_points": true}"#)
            .build()
            .is_err());
    }

    #[test]
    fn resource_level_tags_logs_metrics_and_traces_of_the_fixture_sessions() {
        let p = build(
            r#"{"rules": [{"name": "codex", "match": {
                    "resource_attribute": {"key": "service.name", "value": "codex_exec"},
                    "metadata": {"key": "x-codex-team", "regex": "^(?P<team>[a-z]+)$"}},
                  "set": {"team": "${team}", "project": "checkout"}}]}"#,
        );
        let md = Metadata::from_pairs([("X-Codex-Team", "payments")]);
        let session = "failing-tool-loop-protobuf";
        let mut logs =
            ExportLogsServiceRequest::decode(fixture(&format!("{session}/005_logs.pb")).as_slice())
                .expect("logs");
        let mut metrics = ExportMetricsServiceRequest::decode(
            fixture(&format!("{session}/004_metrics.pb")).as_slice(),
        )
        .expect("metrics");
        let mut traces = ExportTraceServiceRequest::decode(
            fixture(&format!("{session}/003_traces.pb")).as_slice(),
        )
        .expect("traces");
        let mut cx = ProcessContext::new(&md);
        p.process_logs(&mut logs, &mut cx);
        p.process_metrics(&mut metrics, &mut cx);
        p.process_traces(&mut traces, &mut cx);
        let resources: Vec<&Resource> = logs
            .resource_logs
            .iter()
            .filter_map(|r| r.resource.as_ref())
            .chain(
                metrics
                    .resource_metrics
                    .iter()
                    .filter_map(|r| r.resource.as_ref()),
            )
            .chain(
                traces
                    .resource_spans
                    .iter()
                    .filter_map(|r| r.resource.as_ref()),
            )
            .collect();
        assert!(resources.len() >= 3);
        for r in resources {
            assert_eq!(find_attr(&r.attributes, "team"), Some(&s("payments")));
            assert_eq!(find_attr(&r.attributes, "project"), Some(&s("checkout")));
        }
        use crate::OtlpRequest;
        let items = (logs.item_count() + metrics.item_count() + traces.item_count()) as u64;
        assert_eq!(counts(&cx), [("codex".to_string(), items)]);
    }

    #[test]
    fn record_level_derives_the_project_from_the_cwd_of_fixture_spans() {
        let p = build(
            r#"{"level": "record",
                "rules": [{"match": {"attribute": {"key": "cwd", "regex": "/src/(?P<project>[^/]+)$"}},
                           "set": {"project": "${project}"}}],
                "default": {}}"#,
        );
        let mut req = ExportTraceServiceRequest::decode(
            fixture("tool-secrets-protobuf/001_traces.pb").as_slice(),
        )
        .expect("decode");
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_traces(&mut req, &mut cx);
        let spans: Vec<_> = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let tagged: Vec<_> = spans
            .iter()
            .filter(|s| find_attr(&s.attributes, "project").is_some())
            .collect();
        assert!(!tagged.is_empty());
        for span in &tagged {
            assert_eq!(span.name, "run_sampling_request");
            assert_eq!(
                find_attr(&span.attributes, "project"),
                Some(&s("payments-service"))
            );
        }
        assert_eq!(counts(&cx), [("rules[0]".to_string(), tagged.len() as u64)]);
    }

    #[test]
    fn first_matching_rule_wins_and_default_applies_otherwise() {
        let p = build(
            r#"{"rules": [
                  {"name": "prod", "match": {"resource_attribute": {"key": "env", "value": "prod"}},
                   "set": {"team": "sre"}},
                  {"match": {"resource_attribute": {"key": "env", "regex": "."}},
                   "set": {"team": "dev"}}]}"#,
        );
        let mut req = logs(vec![
            (vec![kv("env", s("prod"))], vec![vec![], vec![]]),
            (vec![kv("env", s("staging"))], vec![vec![]]),
            (vec![], vec![vec![], vec![], vec![]]),
        ]);
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(&mut req, &mut cx);
        let teams: Vec<_> = req
            .resource_logs
            .iter()
            .map(|r| find_attr(&r.resource.as_ref().expect("res").attributes, "team").cloned())
            .collect();
        assert_eq!(teams, [Some(s("sre")), Some(s("dev")), Some(s("unknown"))]);
        assert_eq!(
            counts(&cx),
            [
                ("prod".to_string(), 2),
                ("rules[1]".to_string(), 1),
                ("default".to_string(), 3)
            ]
        );
    }

    #[test]
    fn existing_keys_are_kept_unless_overwrite_is_set() {
        for (overwrite, want) in [(false, "mine"), (true, "payments")] {
            let p = build(&format!(
                r#"{{"overwrite": {overwrite}, "level": "record",
                    "rules": [{{"match": {{"metadata": {{"key": "x-team", "value": "payments"}}}},
                               "set": {{"team": "payments", "cost_center": 42}}}}]}}"#
            ));
            let mut req = logs(vec![(vec![], vec![vec![kv("team", s("mine"))]])]);
            let md = Metadata::from_pairs([("x-team", "payments")]);
            p.process_logs(&mut req, &mut ProcessContext::new(&md));
            let attrs = &req.resource_logs[0].scope_logs[0].log_records[0].attributes;
            assert_eq!(find_attr(attrs, "team"), Some(&s(want)));
            assert_eq!(find_attr(attrs, "cost_center"), Some(&Value::IntValue(42)));
            assert_eq!(attrs.len(), 2);
        }
    }

    #[test]
    fn captures_expand_numbered_named_and_escaped_references() {
        let p = build(
            r#"{"level": "record", "rules": [{"match": {
                  "attribute": [{"key": "user.email", "regex": "^([^@]+)@(?P<domain>.+)$"},
                                {"key": "attempt", "value": 0}],
                  "metadata": {"key": "x-org", "regex": "^(?P<org>\\w+)$"}},
                "set": {"team": "${domain}", "owner": "$1 at ${org}", "cost": "$$${1}x$9z"}}]}"#
                .replace("$9z", "$$9z")
                .as_str(),
        );
        let mut req = logs(vec![(
            vec![],
            vec![
                vec![
                    kv("user.email", s("jane@acme.test")),
                    kv("attempt", Value::IntValue(0)),
                ],
                vec![
                    kv("user.email", s("jane@acme.test")),
                    kv("attempt", Value::IntValue(1)),
                ],
            ],
        )]);
        let md = Metadata::from_pairs([("x-org", "acme")]);
        p.process_logs(&mut req, &mut ProcessContext::new(&md));
        let records = &req.resource_logs[0].scope_logs[0].log_records;
        let a = &records[0].attributes;
        assert_eq!(find_attr(a, "team"), Some(&s("acme.test")));
        assert_eq!(find_attr(a, "owner"), Some(&s("jane at acme")));
        assert_eq!(find_attr(a, "cost"), Some(&s("$janex$9z")));
        // Second record: `attempt` is 1, so the rule does not hold; the default applies.
        assert_eq!(
            find_attr(&records[1].attributes, "team"),
            Some(&s("unknown"))
        );
        assert_eq!(find_attr(&records[1].attributes, "owner"), None);
    }

    #[test]
    fn missing_keys_and_non_scalar_values_never_match() {
        let p = build(
            r#"{"level": "record", "default": {},
                "rules": [{"match": {"attribute": {"key": "k", "regex": ".*"}}, "set": {"t": "x"}}]}"#,
        );
        let array = Value::ArrayValue(Default::default());
        let mut req = logs(vec![(vec![], vec![vec![], vec![kv("k", array)]])]);
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(&mut req, &mut cx);
        for lr in &req.resource_logs[0].scope_logs[0].log_records {
            assert_eq!(find_attr(&lr.attributes, "t"), None);
        }
        assert!(cx.counts().is_empty());
    }

    #[test]
    fn resource_level_creates_a_missing_resource() {
        let p = TeamConfig::default().build().expect("default builds");
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![Default::default()],
        };
        p.process_traces(&mut req, &mut ProcessContext::new(&Metadata::default()));
        let attrs = &req.resource_spans[0]
            .resource
            .as_ref()
            .expect("created")
            .attributes;
        assert_eq!(find_attr(attrs, "team"), Some(&s("unknown")));
    }

    #[test]
    fn invalid_config_reports_every_problem_with_its_field_path() {
        let errs = config(
            r#"{"rules": [
                {"match": {"metadata": {"key": "x", "value": "y"}}, "set": {"team": "a"}},
                {"match": {"attribute": {"key": "user.email", "regex": "("}}, "set": {"team": "b"}},
                {"match": {"resource_attribute": [{"key": "a", "value": "b"},
                                                  {"key": "", "regex": "x"},
                                                  {"key": "c"},
                                                  {"key": "d", "value": 1, "regex": "e"}]},
                 "set": {}},
                {"name": "default", "match": {}, "set": {"team": "$1"}},
                {"match": {"metadata": {"key": "m", "regex": "(a)"}},
                 "set": {"team": "$2", "p": "${nope}", "q": "${unclosed", "r": "${a-b}", "ok": "$1"}}
            ]}"#,
        )
        .build()
        .expect_err("invalid");
        let got: Vec<String> = errs.iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            got,
            [
                "rules[1].match.attribute",
                "rules[2].match.resource_attribute[1].key",
                "rules[2].match.resource_attribute[2]",
                "rules[2].match.resource_attribute[3]",
                "rules[2].set",
                "rules[3].name",
                "rules[3].match",
                "rules[3].set.team",
                "rules[4].set.p",
                "rules[4].set.q",
                "rules[4].set.r",
                "rules[4].set.team",
            ]
        );
        let errs = config(
            r#"{"level": "record",
                "rules": [{"match": {"attribute": {"key": "e", "regex": "("}}, "set": {"t": "x"}}]}"#,
        )
        .build()
        .expect_err("bad regex");
        assert_eq!(errs[0].field, "rules[0].match.attribute.regex");
        assert!(errs[0].message.starts_with("invalid regex"), "{}", errs[0]);
    }

    #[test]
    fn config_shape_is_strict() {
        assert_eq!(config("{}"), TeamConfig::default());
        for bad in [
            r#"{"rule": []}"#,
            r#"{"level": "span"}"#,
            r#"{"rules": [{"match": {"resource_attributes": {"key": "a", "value": "b"}}, "set": {"t": "x"}}]}"#,
            r#"{"rules": [{"match": {"metadata": {"key": "a", "values": "b"}}, "set": {"t": "x"}}]}"#,
            r#"{"rules": [{"match": {"metadata": "a"}, "set": {"t": "x"}}]}"#,
        ] {
            assert!(serde_json::from_str::<TeamConfig>(bad).is_err(), "{bad}");
        }
    }
}
