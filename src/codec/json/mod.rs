//! OTLP/JSON codec: the "JSON Protobuf Encoding" of the OTLP specification for the three
//! export requests (traces, metrics, logs) and their responses, mapped onto the prost types of
//! `opentelemetry-proto`.
//!
//! Place in the flow:
//! - **receiver** (OTLP/HTTP, `Content-Type: application/json`): the request body goes through
//!   [`decode_traces`] / [`decode_metrics`] / [`decode_logs`]; the answer is written with
//!   [`encode_trace_response`] / [`encode_metrics_response`] / [`encode_logs_response`].
//! - **otlphttp exporter** with JSON encoding: the batch is written with [`encode_traces`] /
//!   [`encode_metrics`] / [`encode_logs`], and the backend's answer (for `partialSuccess`) is read
//!   with [`decode_trace_response`] / [`decode_metrics_response`] / [`decode_logs_response`].
//!
//! Decoding is a single pass of a small JSON pull parser straight into the prost structs: no
//! intermediate `serde_json::Value` tree, strings without escapes are borrowed until they are
//! copied into their field, unknown fields are skipped without being built. A hand-written parser
//! (rather than serde_json visitors) is used because serde_json without its `float_roundtrip`
//! feature does not round doubles correctly, so `encode` → `decode` would not be exact.
//!
//! Accepted input (a superset of what the OTLP spec and the Codex CLI send):
//! - field names in lowerCamelCase or the original snake_case proto names; unknown fields ignored;
//!   `null` for any field means "not set" (the default);
//! - trace/span ids (also in links, log records and exemplars) as hex strings of exactly 32/16
//!   characters (any case) or `""`; `bytesValue` as base64, standard or URL-safe, padded or not;
//! - enums as integers or as their value names (`"SPAN_KIND_SERVER"`);
//! - every integer as a JSON number or a decimal string (`"908"`, `908`, `9.08e2`);
//! - doubles as numbers, numeric strings, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
//!
//! Output is the canonical proto3 JSON form: lowerCamelCase names, lowercase hex ids, 64-bit
//! integers as strings, enums as integers, default values omitted, `bytesValue` as padded
//! standard base64. Every message the decoder produces re-encodes to JSON that decodes back to an
//! equal message.
//!
//! Limits: `arrayValue`/`kvlistValue` nest at most 128 levels inside one attribute or log body
//! (deeper input is an error; the encoder writes a container that would be deeper as an empty
//! `AnyValue`), and JSON
//! objects/arrays nest at most 640 levels overall, so hostile input cannot exhaust the stack.

mod decode;
mod encode;
mod error;
mod parse;

pub use decode::{
    decode_logs, decode_logs_response, decode_metrics, decode_metrics_response,
    decode_trace_response, decode_traces,
};
pub use encode::{
    encode_logs, encode_logs_response, encode_metrics, encode_metrics_response,
    encode_trace_response, encode_traces,
};
pub use error::{JsonError, JsonErrorKind};

/// An upper estimate of the memory the decoded form of an OTLP/JSON body takes, judged before
/// decoding it: every JSON object becomes at most one prost struct (no larger than a `Span`),
/// counted twice for the slack of growing vectors, plus the body's length for strings.
pub fn estimate_decoded(body: &[u8]) -> u64 {
    let largest = std::mem::size_of::<opentelemetry_proto::tonic::trace::v1::Span>()
        .max(std::mem::size_of::<
            opentelemetry_proto::tonic::logs::v1::LogRecord,
        >())
        .max(std::mem::size_of::<
            opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint,
        >()) as u64;
    let (mut objects, mut in_string, mut escaped) = (0u64, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'{' {
            objects += 1;
        }
    }
    objects
        .saturating_mul(largest)
        .saturating_mul(2)
        .saturating_add(body.len() as u64)
}

#[cfg(test)]
mod tests;
