//! Reading Codex CLI log events: event names, typed attribute lookups that accept both what Codex
//! sends (numbers and booleans as strings) and what the `codex` normaliser makes of it, and
//! adding attributes without overwriting. Shared by `genai`, `cost` and `codex_anomaly`.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// `codex.sse_event`: one server-sent event of a model response.
pub(crate) const SSE_EVENT: &str = "codex.sse_event";
/// `codex.api_request`: one HTTP request to the model endpoint.
pub(crate) const API_REQUEST: &str = "codex.api_request";
/// `codex.tool_result`: one finished tool call.
pub(crate) const TOOL_RESULT: &str = "codex.tool_result";
/// `codex.tool_decision`: the approval decision for one tool call.
pub(crate) const TOOL_DECISION: &str = "codex.tool_decision";
/// `event.kind` of the `codex.sse_event` that carries the token counts.
pub(crate) const RESPONSE_COMPLETED: &str = "response.completed";

/// The string value of attribute `key`.
pub(crate) fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match crate::find_attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The integer value of attribute `key`: an int, a whole double, or a string holding a whole
/// number (Codex 0.169.0 sends `"90001"`; the `codex` normaliser turns it into an int).
pub(crate) fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match crate::find_attr(attrs, key)? {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) if d.is_finite() && d.fract() == 0.0 => {
            // Whole and finite: the cast saturates at the i64 range.
            Some(*d as i64)
        }
        Value::StringValue(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A token count: [`int_attr`], negative values read as absent.
pub(crate) fn count_attr(attrs: &[KeyValue], key: &str) -> Option<u64> {
    int_attr(attrs, key).and_then(|i| u64::try_from(i).ok())
}

/// The boolean value of attribute `key`: a bool, or the string `true` / `false` (any case).
pub(crate) fn bool_attr(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match crate::find_attr(attrs, key)? {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::StringValue(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The event name of a log record: the `event.name` attribute (where Codex 0.169.0 puts it),
/// else the `event_name` field (where the `codex` normaliser copies it).
pub(crate) fn event_name(lr: &LogRecord) -> &str {
    str_attr(&lr.attributes, "event.name").unwrap_or(lr.event_name.as_str())
}

/// Whether `record` is a `codex.sse_event` with `event.kind = response.completed`.
pub(crate) fn is_response_completed(lr: &LogRecord) -> bool {
    event_name(lr) == SSE_EVENT
        && str_attr(&lr.attributes, "event.kind") == Some(RESPONSE_COMPLETED)
}

/// An attribute with a value.
pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Appends `key = value` unless `key` is already there. Returns whether it was added.
pub(crate) fn set_if_absent(attrs: &mut Vec<KeyValue>, key: &str, value: Value) -> bool {
    if attrs.iter().any(|a| a.key == key) {
        return false;
    }
    attrs.push(kv(key, value));
    true
}
