//! Attribute values as they appear in YAML config, converted once at build time to OTLP values,
//! and the text form of config and OTLP scalar values that processors compare as text (`filter`,
//! `team`).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use serde::Deserialize;
use std::borrow::Cow;

/// A scalar attribute value written in config: string, integer, double or boolean.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Double(f64),
    /// Text.
    String(String),
}

impl ConfigValue {
    /// The OTLP value this config value stands for.
    pub fn to_any_value(&self) -> AnyValue {
        let value = match self {
            ConfigValue::Bool(b) => any_value::Value::BoolValue(*b),
            ConfigValue::Int(i) => any_value::Value::IntValue(*i),
            ConfigValue::Double(d) => any_value::Value::DoubleValue(*d),
            ConfigValue::String(s) => any_value::Value::StringValue(s.clone()),
        };
        AnyValue { value: Some(value) }
    }
}

/// The text form of a config value (`200` → `"200"`), compared with [`value_text`].
pub(crate) fn config_text(v: &ConfigValue) -> String {
    match v {
        ConfigValue::Bool(b) => b.to_string(),
        ConfigValue::Int(i) => i.to_string(),
        ConfigValue::Double(d) => d.to_string(),
        ConfigValue::String(s) => s.clone(),
    }
}

/// The text form of a scalar attribute value; `None` for arrays, maps and bytes.
pub fn value_text(v: &any_value::Value) -> Option<Cow<'_, str>> {
    use any_value::Value;
    match v {
        Value::StringValue(s) => Some(Cow::Borrowed(s)),
        Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        _ => None,
    }
}
