//! Attribute values as they appear in YAML config, converted once at build time to OTLP values.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use serde::Deserialize;

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
