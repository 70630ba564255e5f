//! `attributes` and `resource` processors: insert / update / upsert / delete attributes on every
//! record (span, metric data point, log record) or on every resource, for all three signals.
//!
//! Collector users know these as the `attributes` and `resource` processors; the action list has
//! the same shape:
//!
//! ```yaml
//! attributes/team:
//!   actions:
//!     - { key: team, value: platform, action: upsert }
//!     - { key: owner, from_attribute: user.email, action: insert }
//!     - { pattern: "^thread\\.", action: delete }
//! ```

use crate::filter::literal::{bytes_eq, Pattern};
use crate::logs_view::LogsView;
use crate::{BuildError, ConfigValue, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Adds the attribute only where the key is absent.
    Insert,
    /// Changes the attribute only where the key is present.
    Update,
    /// Inserts or updates.
    Upsert,
    /// Removes the key (or every key matching `pattern`).
    Delete,
}

/// One action of an `attributes` or `resource` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute key acted on.
    #[serde(default)]
    pub key: Option<String>,
    /// `delete` only: a regex; every key it matches is removed.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `insert`, `update`, `upsert` or `delete`.
    pub action: ActionKind,
    /// The value to set (string, integer, double or boolean).
    #[serde(default)]
    pub value: Option<ConfigValue>,
    /// Take the value from this other attribute of the same item instead of `value`.
    #[serde(default)]
    pub from_attribute: Option<String>,
}

/// Config of the `attributes` (record level) and `resource` (resource level) processors.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    /// Actions, applied in order to each item.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    /// Same as `actions`; the `resource` processor's Collector spelling.
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

/// Which attributes a processor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Span, data point and log record attributes.
    Record,
    /// Resource attributes.
    Resource,
}

enum Source {
    Value(AnyValue),
    FromAttribute(String),
}

enum Action {
    Set {
        key: String,
        source: Source,
        insert: bool,
        update: bool,
    },
    DeleteKey(String),
    DeletePattern(Pattern),
}

impl Action {
    /// Whether this delete action removes attributes with key `key` (false for set actions).
    fn deletes(&self, key: &str) -> bool {
        match self {
            Action::Set { .. } => false,
            Action::DeleteKey(k) => same_key(k, key),
            Action::DeletePattern(p) => p.is_match(key),
        }
    }

    /// Whether running `self` then `delete` (a delete action) gives the same attributes as
    /// running `delete` first: always for two deletes; for a set action, when `delete` removes
    /// neither the key it sets nor the key it copies from. (A set then only updates its key in
    /// place or appends it, and a delete keeps the order of what it leaves.)
    fn commutes_with_delete(&self, delete: &Action) -> bool {
        match self {
            Action::Set { key, source, .. } => {
                !delete.deletes(key)
                    && !matches!(source, Source::FromAttribute(from) if delete.deletes(from))
            }
            Action::DeleteKey(_) | Action::DeletePattern(_) => true,
        }
    }
}

/// Moves each delete action as early as it can go without changing the result (past the set
/// actions before it that it commutes with), so that inserts land in the room deletes free
/// instead of growing the attribute list.
fn deletes_first(actions: Vec<Action>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(actions.len());
    for a in actions {
        let mut at = out.len();
        if !matches!(a, Action::Set { .. }) {
            while at > 0 && out[at - 1].commutes_with_delete(&a) {
                at -= 1;
            }
        }
        out.insert(at, a);
    }
    out
}

/// The built processor.
pub struct AttributesProcessor {
    level: Level,
    actions: Vec<Action>,
}

impl AttributesConfig {
    /// Checks every action and builds the processor; all problems are returned at once.
    pub fn build(&self, level: Level) -> Result<AttributesProcessor, Vec<BuildError>> {
        let (list, name) = if self.attributes.is_empty() {
            (&self.actions, "actions")
        } else {
            (&self.attributes, "attributes")
        };
        let mut errors = Vec::new();
        if !self.actions.is_empty() && !self.attributes.is_empty() {
            errors.push(BuildError::field(
                "attributes",
                "use either `actions` or `attributes`, not both",
            ));
        }
        let mut actions = Vec::with_capacity(list.len());
        for (i, a) in list.iter().enumerate() {
            match build_action(a) {
                Ok(action) => actions.push(action),
                Err((field, msg)) => {
                    errors.push(BuildError::field(format!("{name}[{i}]{field}"), msg))
                }
            }
        }
        if errors.is_empty() {
            Ok(AttributesProcessor {
                level,
                actions: deletes_first(actions),
            })
        } else {
            Err(errors)
        }
    }
}

fn build_action(a: &ActionConfig) -> Result<Action, (&'static str, String)> {
    if a.action == ActionKind::Delete {
        if a.value.is_some() || a.from_attribute.is_some() {
            return Err((
                "",
                "`delete` takes no `value` or `from_attribute`".to_string(),
            ));
        }
        return match (&a.key, &a.pattern) {
            (Some(k), None) => Ok(Action::DeleteKey(k.clone())),
            (None, Some(p)) => Pattern::new(p)
                .map(Action::DeletePattern)
                .map_err(|e| (".pattern", format!("invalid regex {p:?}: {e}"))),
            _ => Err((
                "",
                "`delete` needs exactly one of `key` or `pattern`".to_string(),
            )),
        };
    }
    if a.pattern.is_some() {
        return Err((
            ".pattern",
            "`pattern` is only allowed with `delete`".to_string(),
        ));
    }
    let Some(key) = a.key.clone().filter(|k| !k.is_empty()) else {
        return Err((".key", "a non-empty `key` is required".to_string()));
    };
    let source = match (&a.value, &a.from_attribute) {
        (Some(v), None) => Source::Value(v.to_any_value()),
        (None, Some(f)) => Source::FromAttribute(f.clone()),
        _ => {
            return Err((
                "",
                "needs exactly one of `value` or `from_attribute`".to_string(),
            ))
        }
    };
    let (insert, update) = match a.action {
        ActionKind::Insert => (true, false),
        ActionKind::Update => (false, true),
        _ => (true, true),
    };
    Ok(Action::Set {
        key,
        source,
        insert,
        update,
    })
}

/// `a == b` on attribute keys (see [`bytes_eq`]).
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes())
}

impl AttributesProcessor {
    /// Applies every action, in order, to one attribute list.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for action in &self.actions {
            match action {
                Action::Set {
                    key,
                    source,
                    insert,
                    update,
                } => {
                    let at = attrs.iter().position(|kv| same_key(&kv.key, key));
                    if !(if at.is_some() { *update } else { *insert }) {
                        continue;
                    }
                    // Only cloned when it is written.
                    let value = match source {
                        Source::Value(v) => Some(v.clone()),
                        Source::FromAttribute(from) => attrs
                            .iter()
                            .find(|kv| same_key(&kv.key, from))
                            .and_then(|kv| kv.value.clone()),
                    };
                    let Some(value) = value else { continue };
                    match at {
                        Some(i) => attrs[i].value = Some(value),
                        None => attrs.push(KeyValue {
                            key: key.clone(),
                            value: Some(value),
                            ..Default::default()
                        }),
                    }
                }
                Action::DeleteKey(key) => attrs.retain(|kv| !same_key(&kv.key, key)),
                Action::DeletePattern(re) => attrs.retain(|kv| !re.is_match(&kv.key)),
            }
        }
    }

    fn apply_resource(&self, resource: &mut Option<Resource>) {
        let r = resource.get_or_insert_with(Resource::default);
        self.apply(&mut r.attributes);
    }
}

impl Processor for AttributesProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, _cx: &mut ProcessContext<'_>) {
        for rs in &mut req.resource_spans {
            match self.level {
                Level::Resource => self.apply_resource(&mut rs.resource),
                Level::Record => rs
                    .scope_spans
                    .iter_mut()
                    .flat_map(|s| &mut s.spans)
                    .for_each(|span| self.apply(&mut span.attributes)),
            }
        }
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, _cx: &mut ProcessContext<'_>) {
        for rm in &mut req.resource_metrics {
            match self.level {
                Level::Resource => self.apply_resource(&mut rm.resource),
                Level::Record => {
                    for m in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                        crate::for_each_point_attributes(m, |a| self.apply(a))
                    }
                }
            }
        }
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, _cx: &mut ProcessContext<'_>) {
        for rl in &mut req.resource_logs {
            match self.level {
                Level::Resource => self.apply_resource(&mut rl.resource),
                Level::Record => rl
                    .scope_logs
                    .iter_mut()
                    .flat_map(|s| &mut s.log_records)
                    .for_each(|r| self.apply(&mut r.attributes)),
            }
        }
    }

    /// The `resource` processor (resource level) only: `attributes` edits every record's
    /// attributes as decoded.
    fn handles_log_views(&self) -> bool {
        matches!(self.level, Level::Resource)
    }

    fn process_log_views(&self, logs: &mut LogsView<'_>, _cx: &mut ProcessContext<'_>) {
        for rl in &mut logs.resource_logs {
            self.apply_resource(&mut rl.resource);
        }
    }
}

/// Config of the `resource` processor: the same actions as `attributes`, on resource attributes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct ResourceConfig(pub AttributesConfig);

impl crate::Component for AttributesConfig {
    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build(Level::Record)?))
    }
}

impl crate::Component for ResourceConfig {
    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.0.build(Level::Resource)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metadata;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;

    fn kv(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        crate::request::find_attr(attrs, key)
    }

    fn build(yaml_like: Vec<ActionConfig>) -> AttributesProcessor {
        AttributesConfig {
            actions: yaml_like,
            attributes: vec![],
        }
        .build(Level::Record)
        .expect("valid")
    }

    fn action(kind: ActionKind, key: &str, value: Option<&str>) -> ActionConfig {
        ActionConfig {
            key: Some(key.into()),
            pattern: None,
            action: kind,
            value: value.map(|v| ConfigValue::String(v.into())),
            from_attribute: None,
        }
    }

    #[test]
    fn insert_adds_only_missing_keys_and_update_changes_only_present_ones() {
        let p = build(vec![
            action(ActionKind::Insert, "team", Some("platform")),
            action(ActionKind::Insert, "env", Some("dev")),
            action(ActionKind::Update, "missing", Some("x")),
        ]);
        let mut attrs = vec![kv("env", "prod")];
        p.apply(&mut attrs);
        assert_eq!(
            get(&attrs, "team"),
            Some(&Value::StringValue("platform".into()))
        );
        assert_eq!(get(&attrs, "env"), Some(&Value::StringValue("prod".into())));
        assert_eq!(get(&attrs, "missing"), None);
    }

    #[test]
    fn upsert_sets_both_cases_and_delete_by_pattern_removes_matches() {
        let p = build(vec![
            action(ActionKind::Upsert, "env", Some("staging")),
            ActionConfig {
                key: None,
                pattern: Some("^thread\\.".into()),
                action: ActionKind::Delete,
                value: None,
                from_attribute: None,
            },
        ]);
        let mut attrs = vec![
            kv("env", "prod"),
            kv("thread.id", "1"),
            kv("thread.name", "x"),
        ];
        p.apply(&mut attrs);
        assert_eq!(attrs.len(), 1);
        assert_eq!(
            get(&attrs, "env"),
            Some(&Value::StringValue("staging".into()))
        );
    }

    #[test]
    fn from_attribute_copies_the_value_of_another_key() {
        let mut a = action(ActionKind::Insert, "owner", None);
        a.from_attribute = Some("user.email".into());
        let p = build(vec![a]);
        let mut attrs = vec![kv("user.email", "a@b.test")];
        p.apply(&mut attrs);
        assert_eq!(
            get(&attrs, "owner"),
            Some(&Value::StringValue("a@b.test".into()))
        );
    }

    #[test]
    fn build_reports_every_bad_action_with_its_index() {
        let cfg = AttributesConfig {
            actions: vec![
                action(ActionKind::Upsert, "ok", Some("v")),
                action(ActionKind::Upsert, "novalue", None),
                ActionConfig {
                    key: None,
                    pattern: Some("(".into()),
                    action: ActionKind::Delete,
                    value: None,
                    from_attribute: None,
                },
            ],
            attributes: vec![],
        };
        let errs = cfg.build(Level::Record).err().expect("invalid");
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("actions[1]:"), "{text:?}");
        assert!(
            text[1].starts_with("actions[2].pattern: invalid regex"),
            "{text:?}"
        );
    }

    #[test]
    fn resource_level_tags_every_signal_on_the_fixture_logs() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let mut req = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
        let p = AttributesConfig {
            actions: vec![action(ActionKind::Upsert, "team", Some("payments"))],
            attributes: vec![],
        }
        .build(Level::Resource)
        .expect("valid");
        let md = Metadata::default();
        p.process_logs(&mut req, &mut ProcessContext::new(&md));
        for rl in &req.resource_logs {
            let attrs = &rl.resource.as_ref().expect("resource").attributes;
            assert_eq!(
                get(attrs, "team"),
                Some(&Value::StringValue("payments".into()))
            );
        }
        assert!(!req.resource_logs.is_empty());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// The actions applied strictly in config order (as before `deletes_first`).
        fn apply_in_order(actions: &[Action], attrs: &mut Vec<KeyValue>) {
            for action in actions {
                match action {
                    Action::Set {
                        key,
                        source,
                        insert,
                        update,
                    } => {
                        let value = match source {
                            Source::Value(v) => Some(v.clone()),
                            Source::FromAttribute(from) => attrs
                                .iter()
                                .find(|kv| &kv.key == from)
                                .and_then(|kv| kv.value.clone()),
                        };
                        let Some(value) = value else { continue };
                        match attrs.iter_mut().find(|kv| &kv.key == key) {
                            Some(kv) if *update => kv.value = Some(value),
                            Some(_) => {}
                            None if *insert => attrs.push(KeyValue {
                                key: key.clone(),
                                value: Some(value),
                                ..Default::default()
                            }),
                            None => {}
                        }
                    }
                    Action::DeleteKey(key) => attrs.retain(|kv| &kv.key != key),
                    Action::DeletePattern(re) => attrs.retain(|kv| !re.is_match(&kv.key)),
                }
            }
        }

        fn any_action() -> impl Strategy<Value = ActionConfig> {
            let key = prop_oneof![Just("a"), Just("b"), Just("ab"), Just("ba"), Just("c")];
            (0u8..6, key.clone(), key, 0u8..3).prop_map(|(kind, k, other, v)| {
                let mut a = action(ActionKind::Upsert, k, Some(&format!("v{v}")));
                match kind {
                    0 => a.action = ActionKind::Insert,
                    1 => a.action = ActionKind::Update,
                    2 => {
                        a.value = None;
                        a.from_attribute = Some(other.into());
                    }
                    3 => {
                        a.action = ActionKind::Delete;
                        a.value = None;
                    }
                    4 => {
                        a.action = ActionKind::Delete;
                        a.value = None;
                        a.key = None;
                        a.pattern = Some(format!("^{other}"));
                    }
                    _ => {}
                }
                a
            })
        }

        proptest! {
            #[test]
            fn reordered_actions_give_the_in_order_result(
                actions in proptest::collection::vec(any_action(), 0..6),
                keys in proptest::collection::vec(
                    prop_oneof![Just("a"), Just("b"), Just("ab"), Just("ba"), Just("c"), Just("d")],
                    0..8,
                ),
            ) {
                let p = build(actions.clone());
                let in_order: Vec<Action> =
                    actions.iter().map(|a| build_action(a).expect("valid")).collect();
                let mut attrs: Vec<KeyValue> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| kv(k, &i.to_string()))
                    .collect();
                let mut want = attrs.clone();
                apply_in_order(&in_order, &mut want);
                p.apply(&mut attrs);
                prop_assert_eq!(attrs, want);
            }
        }
    }
}
