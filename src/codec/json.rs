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

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// Deepest nesting of `arrayValue` / `kvlistValue` containers inside one `AnyValue`.
const MAX_ANY_VALUE_DEPTH: u32 = 128;
/// Deepest nesting of JSON objects and arrays in a body (128 AnyValue levels of `kvlistValue`
/// take 4 JSON levels each, plus the envelope around them).
const MAX_JSON_DEPTH: u32 = 640;
/// Byte length of a trace id.
const TRACE_ID_LEN: usize = 16;
/// Byte length of a span id.
const SPAN_ID_LEN: usize = 8;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why an OTLP/JSON body could not be decoded.
///
/// Displays as e.g. `invalid OTLP/JSON at resourceSpans[0].scopeSpans[1].spans[3].traceId
/// (byte 1234): expected 32 hex characters, got 31`. The path uses the field names as they
/// appeared in the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at {} (byte {offset}): {reason}", display_path(.path))]
pub struct JsonError {
    kind: JsonErrorKind,
    path: String,
    offset: usize,
    reason: String,
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}

impl JsonError {
    /// What class of problem this is.
    pub fn kind(&self) -> JsonErrorKind {
        self.kind
    }

    /// Where in the document the problem is, e.g. `resourceSpans[0].scopeSpans[0].spans[3].traceId`
    /// (empty for the top level).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Byte offset in the body where the problem was detected.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The problem itself, without location.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Class of a [`JsonError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The body is not well-formed JSON (or not UTF-8).
    Syntax,
    /// Well-formed JSON whose content does not fit the OTLP message: wrong JSON type for a field,
    /// bad hex id, bad base64, unknown enum name, number out of range.
    Invalid,
    /// Objects, arrays or `AnyValue`s nested deeper than the decoder accepts.
    TooDeep,
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonErrorKind::Syntax => "malformed JSON",
            JsonErrorKind::Invalid => "invalid OTLP/JSON",
            JsonErrorKind::TooDeep => "OTLP/JSON nested too deeply",
        })
    }
}

/// One step of the path to an error, collected while the error travels up.
enum Seg {
    Key(String),
    Index(usize),
}

struct ErrInner {
    kind: JsonErrorKind,
    offset: usize,
    reason: Cow<'static, str>,
    /// Innermost step first.
    path: Vec<Seg>,
}

/// Parser-internal error: boxed so that `Result`s stay small on the hot path.
struct PErr(Box<ErrInner>);

type PResult<T> = Result<T, PErr>;

impl PErr {
    fn new(kind: JsonErrorKind, offset: usize, reason: impl Into<Cow<'static, str>>) -> Self {
        PErr(Box::new(ErrInner {
            kind,
            offset,
            reason: reason.into(),
            path: Vec::new(),
        }))
    }

    fn in_key(mut self, key: &str) -> Self {
        self.0.path.push(Seg::Key(key.to_owned()));
        self
    }

    fn in_index(mut self, index: usize) -> Self {
        self.0.path.push(Seg::Index(index));
        self
    }

    fn into_public(self) -> JsonError {
        let inner = *self.0;
        let mut path = String::new();
        for seg in inner.path.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                Seg::Index(i) => {
                    path.push('[');
                    path.push_str(&i.to_string());
                    path.push(']');
                }
            }
        }
        JsonError {
            kind: inner.kind,
            path,
            offset: inner.offset,
            reason: inner.reason.into_owned(),
        }
    }
}

/// At most 64 characters of `s`, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON pull parser
// ---------------------------------------------------------------------------------------------

const BASE64_ANY_PAD: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const BASE64_STANDARD_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, BASE64_ANY_PAD);
const BASE64_URL_SAFE_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_ANY_PAD);

/// Recursive-descent pull parser over a UTF-8-validated body.
struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8]) -> Result<Self, JsonError> {
        let (start, rest) = match body.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => (3, rest),
            None => (0, body),
        };
        let src = std::str::from_utf8(rest).map_err(|e| {
            PErr::new(
                JsonErrorKind::Syntax,
                start + e.valid_up_to(),
                "body is not valid UTF-8",
            )
            .into_public()
        })?;
        Ok(Parser {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            depth: 0,
        })
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn syntax(&self, reason: impl Into<Cow<'static, str>>) -> PErr {
        PErr::new(JsonErrorKind::Syntax, self.pos, reason)
    }

    fn invalid_at(&self, offset: usize, reason: impl Into<Cow<'static, str>>) -> PErr {
        PErr::new(JsonErrorKind::Invalid, offset, reason)
    }

    /// "expected X, found Y" for the value starting at the current position.
    fn type_err(&self, expected: &str) -> PErr {
        let (kind, found) = match self.peek() {
            Some(b'{') => (JsonErrorKind::Invalid, "an object"),
            Some(b'[') => (JsonErrorKind::Invalid, "an array"),
            Some(b'"') => (JsonErrorKind::Invalid, "a string"),
            Some(b't' | b'f') => (JsonErrorKind::Invalid, "a boolean"),
            Some(b'n') => (JsonErrorKind::Invalid, "null"),
            Some(b'-' | b'0'..=b'9') => (JsonErrorKind::Invalid, "a number"),
            Some(_) => (JsonErrorKind::Syntax, "an unexpected character"),
            None => (JsonErrorKind::Syntax, "the end of the input"),
        };
        PErr::new(
            kind,
            self.pos,
            format!("expected {expected}, found {found}"),
        )
    }

    /// `&src[a..b]`; both ends are always at ASCII bytes, so this never fails in practice.
    #[inline]
    fn slice(&self, a: usize, b: usize) -> PResult<&'a str> {
        self.src
            .get(a..b)
            .ok_or_else(|| PErr::new(JsonErrorKind::Syntax, a, "string split inside a character"))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH {
            return Err(PErr::new(
                JsonErrorKind::TooDeep,
                self.pos,
                format!("more than {MAX_JSON_DEPTH} nested JSON objects/arrays"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    #[inline]
    fn at_null(&self) -> bool {
        self.bytes
            .get(self.pos..self.pos + 4)
            .is_some_and(|b| b == b"null")
    }

    fn literal(&mut self, lit: &'static [u8]) -> PResult<()> {
        if self
            .bytes
            .get(self.pos..self.pos + lit.len())
            .is_some_and(|b| b == lit)
        {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    /// Parses an object; `field(parser, key)` parses the value of a known key and returns `true`,
    /// or returns `false` for an unknown key (whose value is then skipped). `null` values are
    /// skipped without calling `field`, which leaves the field at its default.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> PResult<bool>) -> PResult<()> {
        if self.peek() != Some(b'{') {
            return Err(self.type_err("an object"));
        }
        self.enter()?;
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.leave();
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a field name in double quotes"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after a field name"));
            }
            self.pos += 1;
            self.ws();
            if self.at_null() {
                self.pos += 4;
            } else if !field(self, &key).map_err(|e| e.in_key(&key))? {
                self.skip_value().map_err(|e| e.in_key(&key))?;
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.syntax("expected ',' or '}' after an object member")),
            }
        }
        self.leave();
        Ok(())
    }

    /// Parses an array with `elem` for each element; `null` elements become `T::default()`.
    fn array<T: Default>(
        &mut self,
        mut elem: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        if self.peek() != Some(b'[') {
            return Err(self.type_err("an array"));
        }
        self.enter()?;
        self.pos += 1;
        self.ws();
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.leave();
            return Ok(out);
        }
        loop {
            let value = if self.at_null() {
                self.pos += 4;
                T::default()
            } else {
                elem(self).map_err(|e| e.in_index(out.len()))?
            };
            out.push(value);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.syntax("expected ',' or ']' after an array element")),
            }
        }
        self.leave();
        Ok(out)
    }

    /// Validates and skips any JSON value without building it.
    fn skip_value(&mut self) -> PResult<()> {
        match self.peek() {
            Some(b'{') => self.object(|_, _| Ok(false)),
            // Vec<()> never allocates.
            Some(b'[') => self.array(|p| p.skip_value()).map(drop),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number_token().map(drop),
            _ => Err(self.type_err("a JSON value")),
        }
    }

    /// A JSON string; borrowed from the body unless it contains escapes.
    fn string(&mut self) -> PResult<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(self.type_err("a string"));
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = self.slice(start, self.pos)?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.syntax("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.syntax("unterminated string")),
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(self.slice(start, self.pos)?);
        loop {
            let run = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.slice(run, self.pos)?);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.syntax("control character in a string")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    /// One escape sequence after the backslash. Unpaired UTF-16 surrogates become U+FFFD.
    fn escape(&mut self, out: &mut String) -> PResult<()> {
        let c = self.peek();
        self.pos += 1;
        match c {
            Some(b'"') => out.push('"'),
            Some(b'\\') => out.push('\\'),
            Some(b'/') => out.push('/'),
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'u') => {
                let hi = self.hex4()?;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                        let save = self.pos;
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            // Not a low surrogate: leave it to be decoded on its own.
                            self.pos = save;
                            None
                        }
                    } else {
                        None
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax("invalid escape sequence in a string"));
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            match self.peek().and_then(hex_val) {
                Some(d) => v = (v << 4) | u32::from(d),
                None => return Err(self.syntax("invalid \\u escape in a string")),
            }
            self.pos += 1;
        }
        Ok(v)
    }

    /// The text of a JSON number token, checked against the JSON number grammar.
    fn number_token(&mut self) -> PResult<&'a str> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        let s = self.slice(start, self.pos)?;
        if number_shape(s.as_bytes()).is_none() {
            return Err(PErr::new(JsonErrorKind::Syntax, start, "invalid number"));
        }
        Ok(s)
    }

    // ----- typed values ------------------------------------------------------------------

    fn string_owned(&mut self) -> PResult<String> {
        self.string().map(Cow::into_owned)
    }

    fn boolean(&mut self) -> PResult<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(self.type_err("a boolean")),
        }
    }

    /// Any integer, as a JSON number or a string holding one.
    fn integer(&mut self) -> PResult<i128> {
        let start = self.pos;
        let parsed = match self.peek() {
            Some(b'"') => {
                let s = self.string()?;
                int_from_text(&s)
            }
            Some(b'-' | b'0'..=b'9') => int_from_text(self.number_token()?),
            _ => return Err(self.type_err("an integer (number or string)")),
        };
        parsed.map_err(|reason| self.invalid_at(start, reason))
    }

    fn ranged<T: TryFrom<i128>>(&mut self, type_name: &'static str) -> PResult<T> {
        let start = self.pos;
        let v = self.integer()?;
        T::try_from(v)
            .map_err(|_| self.invalid_at(start, format!("{v} is out of range for {type_name}")))
    }

    fn u64(&mut self) -> PResult<u64> {
        self.ranged("uint64")
    }

    fn i64(&mut self) -> PResult<i64> {
        self.ranged("int64")
    }

    fn u32(&mut self) -> PResult<u32> {
        self.ranged("uint32")
    }

    fn i32(&mut self) -> PResult<i32> {
        self.ranged("int32")
    }

    fn f64(&mut self) -> PResult<f64> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let s = self.string()?;
                match &*s {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    t if number_shape(t.as_bytes()).is_some() => {
                        finite_f64(t).map_err(|r| self.invalid_at(start, r))
                    }
                    t => Err(self.invalid_at(
                        start,
                        format!(
                            "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\", found \"{}\"",
                            clip(t)
                        ),
                    )),
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let t = self.number_token()?;
                finite_f64(t).map_err(|r| self.invalid_at(start, r))
            }
            _ => Err(self.type_err("a number")),
        }
    }

    /// An enum: integer (any value, proto3 enums are open) or the value's name.
    fn enumeration(&mut self, by_name: fn(&str) -> Option<i32>) -> PResult<i32> {
        if self.peek() == Some(b'"') {
            let start = self.pos;
            let s = self.string()?;
            if let Some(v) = by_name(&s) {
                return Ok(v);
            }
            if let Ok(v) = int_from_text(&s) {
                if let Ok(v) = i32::try_from(v) {
                    return Ok(v);
                }
            }
            return Err(self.invalid_at(start, format!("unknown enum value \"{}\"", clip(&s))));
        }
        self.i32()
    }

    /// A trace id (`len` 16) or span id (`len` 8): hex string of exactly `2 * len` characters,
    /// or `""` for "not set".
    fn id(&mut self, len: usize) -> PResult<Vec<u8>> {
        let start = self.pos;
        let s = self.string()?;
        let text = s.as_bytes();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        if text.len() != 2 * len {
            return Err(self.invalid_at(
                start,
                format!(
                    "expected {} hex characters, got {}",
                    2 * len,
                    s.chars().count()
                ),
            ));
        }
        let mut out = Vec::with_capacity(len);
        for pair in text.chunks_exact(2) {
            match (
                pair.first().and_then(|&c| hex_val(c)),
                pair.get(1).and_then(|&c| hex_val(c)),
            ) {
                (Some(h), Some(l)) => out.push((h << 4) | l),
                _ => {
                    return Err(self.invalid_at(
                        start,
                        format!(
                            "expected {} hex characters, found \"{}\"",
                            2 * len,
                            clip(&s)
                        ),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Base64 bytes, standard or URL-safe alphabet, padding optional.
    fn base64(&mut self) -> PResult<Vec<u8>> {
        let start = self.pos;
        let s = self.string()?;
        let engine = if s.bytes().any(|c| c == b'-' || c == b'_') {
            &BASE64_URL_SAFE_ANY_PAD
        } else {
            &BASE64_STANDARD_ANY_PAD
        };
        engine
            .decode(s.as_bytes())
            .map_err(|e| self.invalid_at(start, format!("invalid base64: {e}")))
    }
}

#[inline]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `Some(is_integer)` when `s` is exactly a JSON number (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
fn number_shape(s: &[u8]) -> Option<bool> {
    let digits = |i: &mut usize| {
        let from = *i;
        while matches!(s.get(*i), Some(b'0'..=b'9')) {
            *i += 1;
        }
        *i > from
    };
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return None,
    }
    let mut is_int = true;
    if s.get(i) == Some(&b'.') {
        i += 1;
        is_int = false;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        is_int = false;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    (i == s.len()).then_some(is_int)
}

/// Integer value of a JSON number text (from a number token or a string). Fractions and
/// exponents are accepted when the value is integral (`"1e3"`, `"5.0"`).
fn int_from_text(s: &str) -> Result<i128, Cow<'static, str>> {
    let b = s.as_bytes();
    // Fast path: plain unsigned decimal of at most 19 digits (fits u64 without overflow).
    if !b.is_empty() && b.len() <= 19 && (b.first() != Some(&b'0') || b.len() == 1) {
        let mut v: u64 = 0;
        let mut ok = true;
        for &c in b {
            if c.is_ascii_digit() {
                v = v * 10 + u64::from(c - b'0');
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            return Ok(i128::from(v));
        }
    }
    match number_shape(b) {
        None => Err(format!("expected an integer, found \"{}\"", clip(s)).into()),
        Some(true) => s
            .parse::<i128>()
            .map_err(|_| Cow::Borrowed("integer out of range")),
        Some(false) => {
            let f: f64 = s.parse().map_err(|_| Cow::Borrowed("invalid number"))?;
            if !f.is_finite() || f.fract() != 0.0 {
                return Err(format!("expected an integer, found {}", clip(s)).into());
            }
            if f.abs() >= 1.9e19 {
                return Err("integer out of range".into());
            }
            // Integral and within ±1.9e19: exact conversion.
            Ok(f as i128)
        }
    }
}

/// Correctly rounded double of a JSON number text; overflow to infinity is an error.
fn finite_f64(s: &str) -> Result<f64, Cow<'static, str>> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{} is out of range for a double", clip(s)).into()),
        Err(_) => Err(format!("invalid number {}", clip(s)).into()),
    }
}

fn span_kind_by_name(s: &str) -> Option<i32> {
    SpanKind::from_str_name(s).map(|v| v as i32)
}

fn status_code_by_name(s: &str) -> Option<i32> {
    StatusCode::from_str_name(s).map(|v| v as i32)
}

fn temporality_by_name(s: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(s).map(|v| v as i32)
}

fn severity_by_name(s: &str) -> Option<i32> {
    SeverityNumber::from_str_name(s).map(|v| v as i32)
}

/// Runs `f` over the whole body; only whitespace may follow the value.
fn decode_body<T>(
    body: &[u8],
    f: impl FnOnce(&mut Parser<'_>) -> PResult<T>,
) -> Result<T, JsonError> {
    let mut p = Parser::new(body)?;
    p.ws();
    let value = f(&mut p).map_err(PErr::into_public)?;
    p.ws();
    if !p.at_end() {
        return Err(p
            .syntax("unexpected characters after the JSON value")
            .into_public());
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Message decoders
// ---------------------------------------------------------------------------------------------

fn attributes(p: &mut Parser<'_>) -> PResult<Vec<KeyValue>> {
    p.array(|p| key_value(p, 0))
}

fn key_value(p: &mut Parser<'_>, depth: u32) -> PResult<KeyValue> {
    let mut m = KeyValue::default();
    p.object(|p, k| {
        match k {
            "key" => m.key = p.string_owned()?,
            "value" => m.value = Some(any_value(p, depth)?),
            "keyStrindex" | "key_strindex" => m.key_strindex = p.i32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn too_deep(p: &Parser<'_>) -> PErr {
    PErr::new(
        JsonErrorKind::TooDeep,
        p.pos,
        format!("arrayValue/kvlistValue nested more than {MAX_ANY_VALUE_DEPTH} levels"),
    )
}

fn any_value(p: &mut Parser<'_>, depth: u32) -> PResult<AnyValue> {
    use any_value::Value;
    let mut m = AnyValue::default();
    p.object(|p, k| {
        match k {
            "stringValue" | "string_value" => m.value = Some(Value::StringValue(p.string_owned()?)),
            "boolValue" | "bool_value" => m.value = Some(Value::BoolValue(p.boolean()?)),
            "intValue" | "int_value" => m.value = Some(Value::IntValue(p.i64()?)),
            "doubleValue" | "double_value" => m.value = Some(Value::DoubleValue(p.f64()?)),
            "arrayValue" | "array_value" => {
                if depth >= MAX_ANY_VALUE_DEPTH {
                    return Err(too_deep(p));
                }
                m.value = Some(Value::ArrayValue(array_value(p, depth + 1)?));
            }
            "kvlistValue" | "kvlist_value" => {
                if depth >= MAX_ANY_VALUE_DEPTH {
                    return Err(too_deep(p));
                }
                m.value = Some(Value::KvlistValue(kvlist_value(p, depth + 1)?));
            }
            "bytesValue" | "bytes_value" => m.value = Some(Value::BytesValue(p.base64()?)),
            "stringValueStrindex" | "string_value_strindex" => {
                m.value = Some(Value::StringValueStrindex(p.i32()?));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn array_value(p: &mut Parser<'_>, depth: u32) -> PResult<ArrayValue> {
    let mut m = ArrayValue::default();
    p.object(|p, k| {
        match k {
            "values" => m.values = p.array(|p| any_value(p, depth))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn kvlist_value(p: &mut Parser<'_>, depth: u32) -> PResult<KeyValueList> {
    let mut m = KeyValueList::default();
    p.object(|p, k| {
        match k {
            "values" => m.values = p.array(|p| key_value(p, depth))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn entity_ref(p: &mut Parser<'_>) -> PResult<EntityRef> {
    let mut m = EntityRef::default();
    p.object(|p, k| {
        match k {
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            "type" => m.r#type = p.string_owned()?,
            "idKeys" | "id_keys" => m.id_keys = p.array(Parser::string_owned)?,
            "descriptionKeys" | "description_keys" => {
                m.description_keys = p.array(Parser::string_owned)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn resource(p: &mut Parser<'_>) -> PResult<Resource> {
    let mut m = Resource::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "entityRefs" | "entity_refs" => m.entity_refs = p.array(entity_ref)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn scope(p: &mut Parser<'_>) -> PResult<InstrumentationScope> {
    let mut m = InstrumentationScope::default();
    p.object(|p, k| {
        match k {
            "name" => m.name = p.string_owned()?,
            "version" => m.version = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- traces ----------------------------------------------------------------------------------

fn resource_spans(p: &mut Parser<'_>) -> PResult<ResourceSpans> {
    let mut m = ResourceSpans::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeSpans" | "scope_spans" => m.scope_spans = p.array(scope_spans)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn scope_spans(p: &mut Parser<'_>) -> PResult<ScopeSpans> {
    let mut m = ScopeSpans::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "spans" => m.spans = p.array(span)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn span(p: &mut Parser<'_>) -> PResult<Span> {
    let mut m = Span::default();
    p.object(|p, k| {
        match k {
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceState" | "trace_state" => m.trace_state = p.string_owned()?,
            "parentSpanId" | "parent_span_id" => m.parent_span_id = p.id(SPAN_ID_LEN)?,
            "flags" => m.flags = p.u32()?,
            "name" => m.name = p.string_owned()?,
            "kind" => m.kind = p.enumeration(span_kind_by_name)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "endTimeUnixNano" | "end_time_unix_nano" => m.end_time_unix_nano = p.u64()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "events" => m.events = p.array(event)?,
            "droppedEventsCount" | "dropped_events_count" => m.dropped_events_count = p.u32()?,
            "links" => m.links = p.array(link)?,
            "droppedLinksCount" | "dropped_links_count" => m.dropped_links_count = p.u32()?,
            "status" => m.status = Some(span_status(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn event(p: &mut Parser<'_>) -> PResult<Event> {
    let mut m = Event::default();
    p.object(|p, k| {
        match k {
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "name" => m.name = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn link(p: &mut Parser<'_>) -> PResult<Link> {
    let mut m = Link::default();
    p.object(|p, k| {
        match k {
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceState" | "trace_state" => m.trace_state = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn span_status(p: &mut Parser<'_>) -> PResult<Status> {
    let mut m = Status::default();
    p.object(|p, k| {
        match k {
            "message" => m.message = p.string_owned()?,
            "code" => m.code = p.enumeration(status_code_by_name)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- metrics ---------------------------------------------------------------------------------

fn resource_metrics(p: &mut Parser<'_>) -> PResult<ResourceMetrics> {
    let mut m = ResourceMetrics::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeMetrics" | "scope_metrics" => m.scope_metrics = p.array(scope_metrics)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn scope_metrics(p: &mut Parser<'_>) -> PResult<ScopeMetrics> {
    let mut m = ScopeMetrics::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "metrics" => m.metrics = p.array(metric)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn metric(p: &mut Parser<'_>) -> PResult<Metric> {
    use metric::Data;
    let mut m = Metric::default();
    p.object(|p, k| {
        match k {
            "name" => m.name = p.string_owned()?,
            "description" => m.description = p.string_owned()?,
            "unit" => m.unit = p.string_owned()?,
            "metadata" => m.metadata = attributes(p)?,
            "gauge" => m.data = Some(Data::Gauge(gauge(p)?)),
            "sum" => m.data = Some(Data::Sum(sum(p)?)),
            "histogram" => m.data = Some(Data::Histogram(histogram(p)?)),
            "exponentialHistogram" | "exponential_histogram" => {
                m.data = Some(Data::ExponentialHistogram(exponential_histogram(p)?));
            }
            "summary" => m.data = Some(Data::Summary(summary(p)?)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn gauge(p: &mut Parser<'_>) -> PResult<Gauge> {
    let mut m = Gauge::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(number_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn sum(p: &mut Parser<'_>) -> PResult<Sum> {
    let mut m = Sum::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(number_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            "isMonotonic" | "is_monotonic" => m.is_monotonic = p.boolean()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn histogram(p: &mut Parser<'_>) -> PResult<Histogram> {
    let mut m = Histogram::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(histogram_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn exponential_histogram(p: &mut Parser<'_>) -> PResult<ExponentialHistogram> {
    let mut m = ExponentialHistogram::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => {
                m.data_points = p.array(exponential_histogram_data_point)?;
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn summary(p: &mut Parser<'_>) -> PResult<Summary> {
    let mut m = Summary::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(summary_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn number_data_point(p: &mut Parser<'_>) -> PResult<NumberDataPoint> {
    use number_data_point::Value;
    let mut m = NumberDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "asDouble" | "as_double" => m.value = Some(Value::AsDouble(p.f64()?)),
            "asInt" | "as_int" => m.value = Some(Value::AsInt(p.i64()?)),
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn histogram_data_point(p: &mut Parser<'_>) -> PResult<HistogramDataPoint> {
    let mut m = HistogramDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = Some(p.f64()?),
            "bucketCounts" | "bucket_counts" => m.bucket_counts = p.array(Parser::u64)?,
            "explicitBounds" | "explicit_bounds" => m.explicit_bounds = p.array(Parser::f64)?,
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "flags" => m.flags = p.u32()?,
            "min" => m.min = Some(p.f64()?),
            "max" => m.max = Some(p.f64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn exponential_histogram_data_point(p: &mut Parser<'_>) -> PResult<ExponentialHistogramDataPoint> {
    let mut m = ExponentialHistogramDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = Some(p.f64()?),
            "scale" => m.scale = p.i32()?,
            "zeroCount" | "zero_count" => m.zero_count = p.u64()?,
            "positive" => m.positive = Some(buckets(p)?),
            "negative" => m.negative = Some(buckets(p)?),
            "flags" => m.flags = p.u32()?,
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "min" => m.min = Some(p.f64()?),
            "max" => m.max = Some(p.f64()?),
            "zeroThreshold" | "zero_threshold" => m.zero_threshold = p.f64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn buckets(p: &mut Parser<'_>) -> PResult<Buckets> {
    let mut m = Buckets::default();
    p.object(|p, k| {
        match k {
            "offset" => m.offset = p.i32()?,
            "bucketCounts" | "bucket_counts" => m.bucket_counts = p.array(Parser::u64)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn summary_data_point(p: &mut Parser<'_>) -> PResult<SummaryDataPoint> {
    let mut m = SummaryDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = p.f64()?,
            "quantileValues" | "quantile_values" => {
                m.quantile_values = p.array(value_at_quantile)?
            }
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn value_at_quantile(p: &mut Parser<'_>) -> PResult<ValueAtQuantile> {
    let mut m = ValueAtQuantile::default();
    p.object(|p, k| {
        match k {
            "quantile" => m.quantile = p.f64()?,
            "value" => m.value = p.f64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn exemplar(p: &mut Parser<'_>) -> PResult<Exemplar> {
    use exemplar::Value;
    let mut m = Exemplar::default();
    p.object(|p, k| {
        match k {
            "filteredAttributes" | "filtered_attributes" => m.filtered_attributes = attributes(p)?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "asDouble" | "as_double" => m.value = Some(Value::AsDouble(p.f64()?)),
            "asInt" | "as_int" => m.value = Some(Value::AsInt(p.i64()?)),
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- logs ------------------------------------------------------------------------------------

fn resource_logs(p: &mut Parser<'_>) -> PResult<ResourceLogs> {
    let mut m = ResourceLogs::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeLogs" | "scope_logs" => m.scope_logs = p.array(scope_logs)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn scope_logs(p: &mut Parser<'_>) -> PResult<ScopeLogs> {
    let mut m = ScopeLogs::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "logRecords" | "log_records" => m.log_records = p.array(log_record)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

fn log_record(p: &mut Parser<'_>) -> PResult<LogRecord> {
    let mut m = LogRecord::default();
    p.object(|p, k| {
        match k {
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                m.observed_time_unix_nano = p.u64()?;
            }
            "severityNumber" | "severity_number" => {
                m.severity_number = p.enumeration(severity_by_name)?;
            }
            "severityText" | "severity_text" => m.severity_text = p.string_owned()?,
            "body" => m.body = Some(any_value(p, 0)?),
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "flags" => m.flags = p.u32()?,
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "eventName" | "event_name" => m.event_name = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- responses -------------------------------------------------------------------------------

/// Responses: like [`decode_body`], but an empty (or all-whitespace) body is the empty response,
/// since some servers answer a full success with no body at all.
fn decode_response<T: Default>(
    body: &[u8],
    f: impl FnOnce(&mut Parser<'_>) -> PResult<T>,
) -> Result<T, JsonError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    decode_body(body, f)
}

/// `{"partialSuccess": {"<rejected>": n, "errorMessage": "..."}}` → `(rejected, message)` inside
/// `Some` when `partialSuccess` is present.
fn partial_success_response(
    p: &mut Parser<'_>,
    rejected_camel: &str,
    rejected_snake: &str,
) -> PResult<Option<(i64, String)>> {
    let mut out = None;
    p.object(|p, k| {
        match k {
            "partialSuccess" | "partial_success" => {
                let mut rejected = 0;
                let mut message = String::new();
                p.object(|p, k| {
                    if k == rejected_camel || k == rejected_snake {
                        rejected = p.i64()?;
                    } else if k == "errorMessage" || k == "error_message" {
                        message = p.string_owned()?;
                    } else {
                        return Ok(false);
                    }
                    Ok(true)
                })?;
                out = Some((rejected, message));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Public decoders
// ---------------------------------------------------------------------------------------------

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body (`POST /v1/traces`).
pub fn decode_traces(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportTraceServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceSpans" | "resource_spans" => m.resource_spans = p.array(resource_spans)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` body (`POST /v1/metrics`).
pub fn decode_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportMetricsServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceMetrics" | "resource_metrics" => {
                    m.resource_metrics = p.array(resource_metrics)?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` body (`POST /v1/logs`).
pub fn decode_logs(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportLogsServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceLogs" | "resource_logs" => m.resource_logs = p.array(resource_logs)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportTraceServiceResponse` (an empty body counts as `{}`).
pub fn decode_trace_response(body: &[u8]) -> Result<ExportTraceServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedSpans", "rejected_spans")?;
        Ok(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        })
    })
}

/// Decodes an OTLP/JSON `ExportMetricsServiceResponse` (an empty body counts as `{}`).
pub fn decode_metrics_response(body: &[u8]) -> Result<ExportMetricsServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedDataPoints", "rejected_data_points")?;
        Ok(ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        })
    })
}

/// Decodes an OTLP/JSON `ExportLogsServiceResponse` (an empty body counts as `{}`).
pub fn decode_logs_response(body: &[u8]) -> Result<ExportLogsServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedLogRecords", "rejected_log_records")?;
        Ok(ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A double as a JSON value: shortest round-trip digits, `"NaN"` / `"Infinity"` / `"-Infinity"`.
fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        let a = v.abs();
        // Writing into a Vec cannot fail.
        let _ = if a != 0.0 && !(1e-6..1e16).contains(&a) {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

/// A JSON string literal with the escapes JSON requires.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[usize::from(c >> 4)]);
            out.push(HEX_DIGITS[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 0xf)]);
    }
    out.push(b'"');
}

/// Writes one JSON object; each method writes its member only when the value is not the proto3
/// default (except `member`, which always writes).
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn close(self) {
        self.out.push(b'}');
    }

    /// Writes `,"name":` and hands back the buffer for the value.
    fn member(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, name: &str, v: &str) {
        if !v.is_empty() {
            push_str(self.member(name), v);
        }
    }

    fn bool(&mut self, name: &str, v: bool) {
        if v {
            self.member(name).extend_from_slice(b"true");
        }
    }

    fn u32(&mut self, name: &str, v: u32) {
        if v != 0 {
            push_u64(self.member(name), u64::from(v));
        }
    }

    fn i32(&mut self, name: &str, v: i32) {
        if v != 0 {
            push_i64(self.member(name), i64::from(v));
        }
    }

    /// 64-bit unsigned integer, written as a string.
    fn u64(&mut self, name: &str, v: u64) {
        if v != 0 {
            let out = self.member(name);
            out.push(b'"');
            push_u64(out, v);
            out.push(b'"');
        }
    }

    /// 64-bit signed integer, written as a string.
    fn i64(&mut self, name: &str, v: i64) {
        if v != 0 {
            let out = self.member(name);
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }

    fn f64(&mut self, name: &str, v: f64) {
        if v != 0.0 {
            push_f64(self.member(name), v);
        }
    }

    fn opt_f64(&mut self, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            push_f64(self.member(name), v);
        }
    }

    fn id(&mut self, name: &str, v: &[u8]) {
        if !v.is_empty() {
            push_hex(self.member(name), v);
        }
    }

    fn msg<T>(&mut self, name: &str, v: Option<&T>, write: impl FnOnce(&mut Vec<u8>, &T)) {
        if let Some(v) = v {
            write(self.member(name), v);
        }
    }

    fn list<T>(&mut self, name: &str, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
        if items.is_empty() {
            return;
        }
        let out = self.member(name);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(out, item);
        }
        out.push(b']');
    }

    fn u64_list(&mut self, name: &str, items: &[u64]) {
        self.list(name, items, |out, &v| {
            out.push(b'"');
            push_u64(out, v);
            out.push(b'"');
        });
    }

    fn f64_list(&mut self, name: &str, items: &[f64]) {
        self.list(name, items, |out, &v| push_f64(out, v));
    }

    fn str_list(&mut self, name: &str, items: &[String]) {
        self.list(name, items, |out, v| push_str(out, v));
    }

    fn attributes(&mut self, name: &str, items: &[KeyValue]) {
        self.list(name, items, |out, kv| enc_key_value(out, kv, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// Message encoders
// ---------------------------------------------------------------------------------------------

fn enc_key_value(out: &mut Vec<u8>, m: &KeyValue, depth: u32) {
    let mut o = Obj::open(out);
    o.str("key", &m.key);
    o.msg("value", m.value.as_ref(), |out, v| {
        enc_any_value(out, v, depth)
    });
    o.i32("keyStrindex", m.key_strindex);
    o.close();
}

fn enc_any_value(out: &mut Vec<u8>, m: &AnyValue, depth: u32) {
    use any_value::Value;
    let mut o = Obj::open(out);
    match &m.value {
        None => {}
        Some(Value::StringValue(s)) => push_str(o.member("stringValue"), s),
        Some(Value::BoolValue(b)) => {
            o.member("boolValue")
                .extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Some(Value::IntValue(v)) => {
            let out = o.member("intValue");
            out.push(b'"');
            push_i64(out, *v);
            out.push(b'"');
        }
        Some(Value::DoubleValue(v)) => push_f64(o.member("doubleValue"), *v),
        Some(Value::ArrayValue(a)) if depth < MAX_ANY_VALUE_DEPTH => {
            let mut inner = Obj::open(o.member("arrayValue"));
            inner.list("values", &a.values, |out, v| {
                enc_any_value(out, v, depth + 1)
            });
            inner.close();
        }
        Some(Value::KvlistValue(l)) if depth < MAX_ANY_VALUE_DEPTH => {
            let mut inner = Obj::open(o.member("kvlistValue"));
            inner.list("values", &l.values, |out, kv| {
                enc_key_value(out, kv, depth + 1)
            });
            inner.close();
        }
        // Deeper than the decoder accepts (only possible for values built in code): written as
        // an empty AnyValue so that the output stays decodable.
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => {}
        Some(Value::BytesValue(b)) => {
            let out = o.member("bytesValue");
            out.push(b'"');
            out.extend_from_slice(STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Some(Value::StringValueStrindex(v)) => {
            push_i64(o.member("stringValueStrindex"), i64::from(*v));
        }
    }
    o.close();
}

fn enc_entity_ref(out: &mut Vec<u8>, m: &EntityRef) {
    let mut o = Obj::open(out);
    o.str("schemaUrl", &m.schema_url);
    o.str("type", &m.r#type);
    o.str_list("idKeys", &m.id_keys);
    o.str_list("descriptionKeys", &m.description_keys);
    o.close();
}

fn enc_resource(out: &mut Vec<u8>, m: &Resource) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.list("entityRefs", &m.entity_refs, enc_entity_ref);
    o.close();
}

fn enc_scope(out: &mut Vec<u8>, m: &InstrumentationScope) {
    let mut o = Obj::open(out);
    o.str("name", &m.name);
    o.str("version", &m.version);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.close();
}

// ----- traces ----------------------------------------------------------------------------------

fn enc_resource_spans(out: &mut Vec<u8>, m: &ResourceSpans) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeSpans", &m.scope_spans, enc_scope_spans);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_scope_spans(out: &mut Vec<u8>, m: &ScopeSpans) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("spans", &m.spans, enc_span);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_span(out: &mut Vec<u8>, m: &Span) {
    let mut o = Obj::open(out);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("traceState", &m.trace_state);
    o.id("parentSpanId", &m.parent_span_id);
    o.u32("flags", m.flags);
    o.str("name", &m.name);
    o.i32("kind", m.kind);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("endTimeUnixNano", m.end_time_unix_nano);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.list("events", &m.events, enc_event);
    o.u32("droppedEventsCount", m.dropped_events_count);
    o.list("links", &m.links, enc_link);
    o.u32("droppedLinksCount", m.dropped_links_count);
    o.msg("status", m.status.as_ref(), enc_status);
    o.close();
}

fn enc_event(out: &mut Vec<u8>, m: &Event) {
    let mut o = Obj::open(out);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.str("name", &m.name);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.close();
}

fn enc_link(out: &mut Vec<u8>, m: &Link) {
    let mut o = Obj::open(out);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("traceState", &m.trace_state);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.u32("flags", m.flags);
    o.close();
}

fn enc_status(out: &mut Vec<u8>, m: &Status) {
    let mut o = Obj::open(out);
    o.str("message", &m.message);
    o.i32("code", m.code);
    o.close();
}

// ----- metrics ---------------------------------------------------------------------------------

fn enc_resource_metrics(out: &mut Vec<u8>, m: &ResourceMetrics) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeMetrics", &m.scope_metrics, enc_scope_metrics);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_scope_metrics(out: &mut Vec<u8>, m: &ScopeMetrics) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("metrics", &m.metrics, enc_metric);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_metric(out: &mut Vec<u8>, m: &Metric) {
    use metric::Data;
    let mut o = Obj::open(out);
    o.str("name", &m.name);
    o.str("description", &m.description);
    o.str("unit", &m.unit);
    match &m.data {
        None => {}
        Some(Data::Gauge(g)) => {
            let mut d = Obj::open(o.member("gauge"));
            d.list("dataPoints", &g.data_points, enc_number_data_point);
            d.close();
        }
        Some(Data::Sum(s)) => {
            let mut d = Obj::open(o.member("sum"));
            d.list("dataPoints", &s.data_points, enc_number_data_point);
            d.i32("aggregationTemporality", s.aggregation_temporality);
            d.bool("isMonotonic", s.is_monotonic);
            d.close();
        }
        Some(Data::Histogram(h)) => {
            let mut d = Obj::open(o.member("histogram"));
            d.list("dataPoints", &h.data_points, enc_histogram_data_point);
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.close();
        }
        Some(Data::ExponentialHistogram(h)) => {
            let mut d = Obj::open(o.member("exponentialHistogram"));
            d.list(
                "dataPoints",
                &h.data_points,
                enc_exponential_histogram_data_point,
            );
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.close();
        }
        Some(Data::Summary(s)) => {
            let mut d = Obj::open(o.member("summary"));
            d.list("dataPoints", &s.data_points, enc_summary_data_point);
            d.close();
        }
    }
    o.attributes("metadata", &m.metadata);
    o.close();
}

fn enc_number_data_point(out: &mut Vec<u8>, m: &NumberDataPoint) {
    use number_data_point::Value;
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    match m.value {
        None => {}
        Some(Value::AsDouble(v)) => push_f64(o.member("asDouble"), v),
        Some(Value::AsInt(v)) => {
            let out = o.member("asInt");
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.u32("flags", m.flags);
    o.close();
}

fn enc_histogram_data_point(out: &mut Vec<u8>, m: &HistogramDataPoint) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.opt_f64("sum", m.sum);
    o.u64_list("bucketCounts", &m.bucket_counts);
    o.f64_list("explicitBounds", &m.explicit_bounds);
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.u32("flags", m.flags);
    o.opt_f64("min", m.min);
    o.opt_f64("max", m.max);
    o.close();
}

fn enc_exponential_histogram_data_point(out: &mut Vec<u8>, m: &ExponentialHistogramDataPoint) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.opt_f64("sum", m.sum);
    o.i32("scale", m.scale);
    o.u64("zeroCount", m.zero_count);
    o.msg("positive", m.positive.as_ref(), enc_buckets);
    o.msg("negative", m.negative.as_ref(), enc_buckets);
    o.u32("flags", m.flags);
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.opt_f64("min", m.min);
    o.opt_f64("max", m.max);
    o.f64("zeroThreshold", m.zero_threshold);
    o.close();
}

fn enc_buckets(out: &mut Vec<u8>, m: &Buckets) {
    let mut o = Obj::open(out);
    o.i32("offset", m.offset);
    o.u64_list("bucketCounts", &m.bucket_counts);
    o.close();
}

fn enc_summary_data_point(out: &mut Vec<u8>, m: &SummaryDataPoint) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.f64("sum", m.sum);
    o.list("quantileValues", &m.quantile_values, |out, q| {
        let mut o = Obj::open(out);
        o.f64("quantile", q.quantile);
        o.f64("value", q.value);
        o.close();
    });
    o.u32("flags", m.flags);
    o.close();
}

fn enc_exemplar(out: &mut Vec<u8>, m: &Exemplar) {
    use exemplar::Value;
    let mut o = Obj::open(out);
    o.attributes("filteredAttributes", &m.filtered_attributes);
    o.u64("timeUnixNano", m.time_unix_nano);
    match m.value {
        None => {}
        Some(Value::AsDouble(v)) => push_f64(o.member("asDouble"), v),
        Some(Value::AsInt(v)) => {
            let out = o.member("asInt");
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }
    o.id("spanId", &m.span_id);
    o.id("traceId", &m.trace_id);
    o.close();
}

// ----- logs ------------------------------------------------------------------------------------

fn enc_resource_logs(out: &mut Vec<u8>, m: &ResourceLogs) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeLogs", &m.scope_logs, enc_scope_logs);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_scope_logs(out: &mut Vec<u8>, m: &ScopeLogs) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("logRecords", &m.log_records, enc_log_record);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

fn enc_log_record(out: &mut Vec<u8>, m: &LogRecord) {
    let mut o = Obj::open(out);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("observedTimeUnixNano", m.observed_time_unix_nano);
    o.i32("severityNumber", m.severity_number);
    o.str("severityText", &m.severity_text);
    o.msg("body", m.body.as_ref(), |out, v| enc_any_value(out, v, 0));
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.u32("flags", m.flags);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("eventName", &m.event_name);
    o.close();
}

fn enc_partial_success(out: &mut Vec<u8>, rejected_name: &str, rejected: i64, message: &str) {
    let mut o = Obj::open(out);
    let mut p = Obj::open(o.member("partialSuccess"));
    p.i64(rejected_name, rejected);
    p.str("errorMessage", message);
    p.close();
    o.close();
}

// ---------------------------------------------------------------------------------------------
// Public encoders
// ---------------------------------------------------------------------------------------------

/// Encodes an `ExportTraceServiceRequest` as canonical OTLP/JSON.
pub fn encode_traces(req: &ExportTraceServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list("resourceSpans", &req.resource_spans, enc_resource_spans);
    o.close();
    out
}

/// Encodes an `ExportMetricsServiceRequest` as canonical OTLP/JSON.
pub fn encode_metrics(req: &ExportMetricsServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list(
        "resourceMetrics",
        &req.resource_metrics,
        enc_resource_metrics,
    );
    o.close();
    out
}

/// Encodes an `ExportLogsServiceRequest` as canonical OTLP/JSON.
pub fn encode_logs(req: &ExportLogsServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list("resourceLogs", &req.resource_logs, enc_resource_logs);
    o.close();
    out
}

/// Encodes an `ExportTraceServiceResponse` (`{}` on full success).
pub fn encode_trace_response(r: &ExportTraceServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedSpans",
                p.rejected_spans,
                &p.error_message,
            );
            out
        }
    }
}

/// Encodes an `ExportMetricsServiceResponse` (`{}` on full success).
pub fn encode_metrics_response(r: &ExportMetricsServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedDataPoints",
                p.rejected_data_points,
                &p.error_message,
            );
            out
        }
    }
}

/// Encodes an `ExportLogsServiceResponse` (`{}` on full success).
pub fn encode_logs_response(r: &ExportLogsServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedLogRecords",
                p.rejected_log_records,
                &p.error_message,
            );
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    use prost::Message as _;
    use serde_json::Value as J;
    use std::path::PathBuf;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    /// Every fixture file with extension `ext`, in all fixture folders, sorted.
    fn fixture_files(ext: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(FIXTURES).unwrap() {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().and_then(|e| e.to_str()) == Some(ext) {
                    out.push(f);
                }
            }
        }
        out.sort();
        out
    }

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{rel}")).unwrap()
    }

    fn spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
        req.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    fn metrics(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .collect()
    }

    fn data_point_count(m: &Metric) -> usize {
        match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(metric::Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    }

    fn log_records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
        req.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect()
    }

    fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn hex(s: &str) -> Vec<u8> {
        const_hex::decode(s).unwrap()
    }

    fn one_span(json: &str) -> Result<Span, JsonError> {
        let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{json}]}}]}}]}}"#);
        decode_traces(body.as_bytes()).map(|r| r.resource_spans[0].scope_spans[0].spans[0].clone())
    }

    fn one_attr_value(json: &str) -> Result<AnyValue, JsonError> {
        one_span(&format!(
            r#"{{"attributes":[{{"key":"k","value":{json}}}]}}"#
        ))
        .map(|s| s.attributes[0].value.clone().unwrap())
    }

    fn log_body(json: &str) -> Result<Option<AnyValue>, JsonError> {
        let body = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{json}}}]}}]}}]}}"#
        );
        decode_logs(body.as_bytes())
            .map(|r| r.resource_logs[0].scope_logs[0].log_records[0].body.clone())
    }

    fn traces_round_trip(req: &ExportTraceServiceRequest) {
        let json = encode_traces(req);
        serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
        assert_eq!(&decode_traces(&json).unwrap(), req);
    }

    fn metrics_round_trip(req: &ExportMetricsServiceRequest) {
        let json = encode_metrics(req);
        serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
        assert_eq!(&decode_metrics(&json).unwrap(), req);
    }

    fn logs_round_trip(req: &ExportLogsServiceRequest) {
        let json = encode_logs(req);
        serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
        assert_eq!(&decode_logs(&json).unwrap(), req);
    }

    // ----- fixtures ------------------------------------------------------------------------------

    #[test]
    fn every_pb_fixture_round_trips_through_json() {
        let files = fixture_files("pb");
        assert!(
            files.len() >= 13,
            "expected the 13 captured .pb bodies, found {}",
            files.len()
        );
        let mut seen = [0usize; 3];
        for path in &files {
            let body = std::fs::read(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("traces") {
                let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                assert!(!spans(&req).is_empty(), "{name}");
                let json = encode_traces(&req);
                serde_json::from_slice::<J>(&json).unwrap();
                let back = decode_traces(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(back, req, "{}", path.display());
                seen[0] += 1;
            } else if name.contains("metrics") {
                let req = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
                assert!(
                    metrics(&req)
                        .iter()
                        .map(|m| data_point_count(m))
                        .sum::<usize>()
                        > 0
                );
                let json = encode_metrics(&req);
                serde_json::from_slice::<J>(&json).unwrap();
                let back = decode_metrics(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(back, req, "{}", path.display());
                seen[1] += 1;
            } else if name.contains("logs") {
                let req = ExportLogsServiceRequest::decode(&body[..]).unwrap();
                assert!(!log_records(&req).is_empty(), "{name}");
                let json = encode_logs(&req);
                serde_json::from_slice::<J>(&json).unwrap();
                let back = decode_logs(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(back, req, "{}", path.display());
                seen[2] += 1;
            } else {
                panic!("fixture {name} names no signal");
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    #[test]
    fn every_json_fixture_decodes_with_items_and_round_trips() {
        let files: Vec<_> = fixture_files("json")
            .into_iter()
            .filter(|p| !p.ends_with("model-script.json"))
            .collect();
        assert!(files.len() >= 4, "{files:?}");
        for path in &files {
            let body = std::fs::read(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("traces") {
                let req = decode_traces(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!spans(&req).is_empty(), "{name}");
                traces_round_trip(&req);
            } else if name.contains("metrics") {
                let req = decode_metrics(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(
                    metrics(&req)
                        .iter()
                        .map(|m| data_point_count(m))
                        .sum::<usize>()
                        > 0
                );
                metrics_round_trip(&req);
            } else if name.contains("logs") {
                let req = decode_logs(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!log_records(&req).is_empty(), "{name}");
                logs_round_trip(&req);
            } else {
                panic!("fixture {name} names no signal");
            }
        }
    }

    #[test]
    fn json_traces_fixture_has_the_values_in_the_file() {
        let body = fixture("prompt-redacted-json/001_traces.json");
        let req = decode_traces(&body).unwrap();
        let all = spans(&req);
        let first = all[0];
        assert_eq!(first.trace_id, hex("2b41e7d7d13023116844a317e8c48e47"));
        assert_eq!(first.span_id, hex("3e99e58d9f7ce459"));
        assert_eq!(first.parent_span_id, hex("ed8ef137aec597fb"));
        assert_eq!(first.flags, 257);
        assert_eq!(first.kind, SpanKind::Internal as i32);
        assert_eq!(first.name, "fs.read_file");
        assert_eq!(first.start_time_unix_nano, 1_795_236_489_437_895_552);
        assert_eq!(first.end_time_unix_nano, 1_795_236_489_437_953_839);
        assert_eq!(
            attr(&first.attributes, "code.line.number"),
            Some(&any_value::Value::IntValue(155))
        );
        assert_eq!(
            attr(&first.attributes, "code.file.path"),
            Some(&any_value::Value::StringValue(
                "exec-server/src/local_file_system.rs".into()
            ))
        );
        assert_eq!(
            attr(&first.attributes, "sandboxed"),
            Some(&any_value::Value::BoolValue(false))
        );
        let resource = req.resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(
            attr(&resource.attributes, "service.name"),
            Some(&any_value::Value::StringValue("codex_exec".into()))
        );

        // `"intValue": "908"` (a 64-bit int sent as a string) comes out as IntValue(908), as often
        // as the text has it.
        let text = std::str::from_utf8(&body).unwrap();
        let in_text = text.matches(r#""intValue": "908""#).count();
        let decoded = all
            .iter()
            .flat_map(|s| {
                s.attributes
                    .iter()
                    .chain(s.events.iter().flat_map(|e| &e.attributes))
            })
            .filter(|kv| {
                kv.value.as_ref().and_then(|v| v.value.as_ref())
                    == Some(&any_value::Value::IntValue(908))
            })
            .count();
        assert!(in_text > 0);
        assert_eq!(decoded, in_text);
        assert!(all.iter().any(|s| attr(&s.attributes, "busy_ns").is_some()));
    }

    #[test]
    fn json_traces_fixture_agrees_with_an_independent_serde_json_parse() {
        for file in ["001_traces.json", "002_traces.json"] {
            let body = fixture(&format!("prompt-redacted-json/{file}"));
            let req = decode_traces(&body).unwrap();
            let tree: J = serde_json::from_slice(&body).unwrap();
            let mut json_spans = Vec::new();
            for rs in tree["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    json_spans.extend(ss["spans"].as_array().unwrap().iter());
                }
            }
            let ours = spans(&req);
            assert_eq!(ours.len(), json_spans.len(), "{file}");
            assert!(ours.len() > 100, "{file}: {}", ours.len());
            for (s, j) in ours.iter().zip(&json_spans) {
                assert_eq!(s.name, j["name"].as_str().unwrap());
                assert_eq!(
                    const_hex::encode(&s.trace_id),
                    j["traceId"].as_str().unwrap()
                );
                assert_eq!(const_hex::encode(&s.span_id), j["spanId"].as_str().unwrap());
                assert_eq!(
                    s.attributes.len(),
                    j["attributes"].as_array().unwrap().len()
                );
                assert_eq!(s.events.len(), j["events"].as_array().unwrap().len());
                assert_eq!(s.kind, j["kind"].as_i64().unwrap() as i32);
                assert_eq!(
                    s.start_time_unix_nano.to_string(),
                    j["startTimeUnixNano"].as_str().unwrap()
                );
                assert_eq!(
                    s.status.as_ref().unwrap().code,
                    j["status"]["code"].as_i64().unwrap() as i32
                );
            }
        }
    }

    #[test]
    fn json_metrics_fixture_has_the_values_in_the_file() {
        let body = fixture("prompt-redacted-json/003_metrics.json");
        let req = decode_metrics(&body).unwrap();
        let tree: J = serde_json::from_slice(&body).unwrap();
        let json_metrics = tree["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
            .as_array()
            .unwrap();
        let ours = metrics(&req);
        assert_eq!(ours.len(), json_metrics.len());
        assert_eq!(ours.len(), 57);

        let op = ours
            .iter()
            .find(|m| m.name == "codex.auth_storage.operation")
            .unwrap();
        let Some(metric::Data::Sum(sum)) = &op.data else {
            panic!("not a sum")
        };
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        assert!(sum.is_monotonic);
        assert!(!sum.data_points.is_empty());

        let dur = ours
            .iter()
            .find(|m| m.name == "codex.auth_storage.duration")
            .unwrap();
        assert_eq!(dur.unit, "ms");
        assert_eq!(dur.description, "Duration in milliseconds.");
        let Some(metric::Data::Histogram(h)) = &dur.data else {
            panic!("not a histogram")
        };
        assert_eq!(
            h.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        let dp = &h.data_points[0];
        assert_eq!(dp.count, 4);
        assert_eq!(dp.bucket_counts.len(), 35);
        assert_eq!(dp.bucket_counts[0], 4);
        assert!(dp.bucket_counts[1..].iter().all(|&c| c == 0));
        assert_eq!(dp.explicit_bounds.len(), 34);
        assert_eq!(&dp.explicit_bounds[..4], &[0.0, 5.0, 10.0, 25.0]);
        assert_eq!(dp.explicit_bounds[33], 120_000.0);
        assert_eq!((dp.sum, dp.min, dp.max), (Some(0.0), Some(0.0), Some(0.0)));
        assert_eq!(dp.start_time_unix_nano, 1_795_236_489_386_447_423);

        // Every metric against the independent parse: kind, temporality, points, bucket counts,
        // integer values.
        for (m, j) in ours.iter().zip(json_metrics) {
            assert_eq!(m.name, j["name"].as_str().unwrap());
            match &m.data {
                Some(metric::Data::Sum(s)) => {
                    let js = &j["sum"];
                    assert_eq!(
                        i64::from(s.aggregation_temporality),
                        js["aggregationTemporality"].as_i64().unwrap()
                    );
                    let jdps = js["dataPoints"].as_array().unwrap();
                    assert_eq!(s.data_points.len(), jdps.len());
                    for (dp, jdp) in s.data_points.iter().zip(jdps) {
                        assert_eq!(
                            dp.value,
                            Some(number_data_point::Value::AsInt(
                                jdp["asInt"].as_i64().unwrap()
                            ))
                        );
                        assert_eq!(
                            dp.attributes.len(),
                            jdp["attributes"].as_array().unwrap().len()
                        );
                    }
                }
                Some(metric::Data::Histogram(h)) => {
                    let jh = &j["histogram"];
                    assert_eq!(
                        i64::from(h.aggregation_temporality),
                        jh["aggregationTemporality"].as_i64().unwrap()
                    );
                    let jdps = jh["dataPoints"].as_array().unwrap();
                    assert_eq!(h.data_points.len(), jdps.len());
                    for (dp, jdp) in h.data_points.iter().zip(jdps) {
                        let counts: Vec<u64> = jdp["bucketCounts"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| c.as_u64().unwrap())
                            .collect();
                        assert_eq!(dp.bucket_counts, counts);
                        assert_eq!(dp.count, jdp["count"].as_u64().unwrap());
                        assert_eq!(dp.sum, jdp["sum"].as_f64());
                    }
                }
                other => panic!("unexpected metric data {other:?}"),
            }
        }
    }

    #[test]
    fn json_logs_fixture_has_the_values_in_the_file() {
        let body = fixture("prompt-redacted-json/004_logs.json");
        let req = decode_logs(&body).unwrap();
        let tree: J = serde_json::from_slice(&body).unwrap();
        let records = log_records(&req);
        let mut json_records = Vec::new();
        for sl in tree["resourceLogs"][0]["scopeLogs"].as_array().unwrap() {
            json_records.extend(sl["logRecords"].as_array().unwrap().iter());
        }
        assert_eq!(records.len(), json_records.len());
        assert_eq!(records.len(), 29);

        let first = records[0];
        assert_eq!(first.severity_number, SeverityNumber::Debug as i32);
        assert_eq!(first.severity_text, "DEBUG");
        assert_eq!(first.time_unix_nano, 0);
        assert_eq!(first.observed_time_unix_nano, 1_795_236_490_020_433_801);
        assert!(first.trace_id.is_empty() && first.span_id.is_empty());
        assert_eq!(
            first.body.as_ref().and_then(|b| b.value.as_ref()),
            Some(&any_value::Value::StringValue(
                "flushing OTEL metrics".into()
            ))
        );
        assert_eq!(first.event_name, "event otel/src/metrics/client.rs:324");

        let second = records[1];
        assert_eq!(second.trace_id, hex("55ef4d5fb5ca997c0b49c49ded23177c"));
        assert_eq!(second.severity_number, SeverityNumber::Info as i32);
        assert_eq!(second.body, None, "\"body\": null is no body");
        assert_eq!(second.attributes.len(), 20);

        for (r, j) in records.iter().zip(&json_records) {
            assert_eq!(r.event_name, j["eventName"].as_str().unwrap());
            assert_eq!(
                r.attributes.len(),
                j["attributes"].as_array().unwrap().len()
            );
            assert_eq!(const_hex::encode(&r.span_id), j["spanId"].as_str().unwrap());
        }
        let prompts: Vec<_> = records
            .iter()
            .filter_map(|r| attr(&r.attributes, "event.name"))
            .filter(|v| **v == any_value::Value::StringValue("codex.user_prompt".into()))
            .collect();
        assert!(!prompts.is_empty());
    }

    // ----- every field, both directions ----------------------------------------------------------

    fn every_any_value() -> Vec<KeyValue> {
        use any_value::Value;
        let av = |v: Value| Some(AnyValue { value: Some(v) });
        let kv = |k: &str, v: Value| KeyValue {
            key: k.into(),
            value: av(v),
            key_strindex: 0,
        };
        vec![
            kv(
                "s",
                Value::StringValue("text \"quoted\" \\ \n\t\u{1} é 😀 \u{2028}".into()),
            ),
            kv("empty", Value::StringValue(String::new())),
            kv("b", Value::BoolValue(true)),
            kv("bf", Value::BoolValue(false)),
            kv("i", Value::IntValue(i64::MIN)),
            kv("i0", Value::IntValue(0)),
            kv("d", Value::DoubleValue(0.1 + 0.2)),
            kv("d0", Value::DoubleValue(0.0)),
            kv("bytes", Value::BytesValue(vec![0, 1, 2, 250, 251, 255])),
            kv("nobytes", Value::BytesValue(vec![])),
            kv("strindex", Value::StringValueStrindex(7)),
            kv(
                "arr",
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::IntValue(1)),
                        },
                        AnyValue { value: None },
                        AnyValue {
                            value: Some(Value::ArrayValue(ArrayValue { values: vec![] })),
                        },
                    ],
                }),
            ),
            kv(
                "kv",
                Value::KvlistValue(KeyValueList {
                    values: vec![
                        KeyValue {
                            key: "inner".into(),
                            value: av(Value::DoubleValue(-2.5)),
                            key_strindex: 3,
                        },
                        KeyValue {
                            key: String::new(),
                            value: None,
                            key_strindex: 0,
                        },
                    ],
                }),
            ),
            KeyValue {
                key: "unset".into(),
                value: Some(AnyValue { value: None }),
                key_strindex: 0,
            },
        ]
    }

    fn every_resource() -> Resource {
        Resource {
            attributes: every_any_value(),
            dropped_attributes_count: 3,
            entity_refs: vec![EntityRef {
                schema_url: "https://schema".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into(), "service.namespace".into()],
                description_keys: vec!["service.version".into()],
            }],
        }
    }

    fn every_scope() -> InstrumentationScope {
        InstrumentationScope {
            name: "scope".into(),
            version: "1.2.3".into(),
            attributes: every_any_value(),
            dropped_attributes_count: 4,
        }
    }

    fn every_exemplar() -> Vec<Exemplar> {
        vec![
            Exemplar {
                filtered_attributes: every_any_value(),
                time_unix_nano: 1,
                span_id: hex("0102030405060708"),
                trace_id: hex("0102030405060708090a0b0c0d0e0f10"),
                value: Some(exemplar::Value::AsDouble(1.5)),
            },
            Exemplar {
                filtered_attributes: vec![],
                time_unix_nano: 2,
                span_id: vec![],
                trace_id: vec![],
                value: Some(exemplar::Value::AsInt(-5)),
            },
        ]
    }

    #[test]
    fn every_trace_field_round_trips() {
        let span = Span {
            trace_id: hex("5B8EFFF798038103D269B633813FC60C"),
            span_id: hex("eee19b7ec3c1b174"),
            trace_state: "rojo=00f067aa0ba902b7".into(),
            parent_span_id: hex("eee19b7ec3c1b173"),
            flags: 0x301,
            name: "GET /api".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_544_712_660_000_000_000,
            end_time_unix_nano: u64::MAX,
            attributes: every_any_value(),
            dropped_attributes_count: 1,
            events: vec![Event {
                time_unix_nano: 1_544_712_660_500_000_000,
                name: "exception".into(),
                attributes: every_any_value(),
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![Link {
                trace_id: hex("0af7651916cd43dd8448eb211c80319c"),
                span_id: hex("b7ad6b7169203331"),
                trace_state: "k=v".into(),
                attributes: every_any_value(),
                dropped_attributes_count: 5,
                flags: 0x100,
            }],
            dropped_links_count: 4,
            status: Some(Status {
                message: "boom".into(),
                code: StatusCode::Error as i32,
            }),
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(every_resource()),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(every_scope()),
                            spans: vec![span, Span::default()],
                            schema_url: "https://opentelemetry.io/schemas/1.4.0".into(),
                        },
                        ScopeSpans::default(),
                    ],
                    schema_url: "https://opentelemetry.io/schemas/1.5.0".into(),
                },
                ResourceSpans {
                    resource: Some(Resource::default()),
                    scope_spans: vec![],
                    schema_url: String::new(),
                },
            ],
        };
        traces_round_trip(&req);
        traces_round_trip(&ExportTraceServiceRequest::default());
    }

    #[test]
    fn every_metric_field_round_trips() {
        let number_points = vec![
            NumberDataPoint {
                attributes: every_any_value(),
                start_time_unix_nano: 1,
                time_unix_nano: 2,
                exemplars: every_exemplar(),
                flags: 1,
                value: Some(number_data_point::Value::AsDouble(3.25)),
            },
            NumberDataPoint {
                attributes: vec![],
                start_time_unix_nano: 0,
                time_unix_nano: 0,
                exemplars: vec![],
                flags: 0,
                value: Some(number_data_point::Value::AsInt(0)),
            },
            NumberDataPoint::default(),
        ];
        let metric = |name: &str, data: metric::Data| Metric {
            name: name.into(),
            description: format!("{name} description"),
            unit: "ms".into(),
            metadata: every_any_value(),
            data: Some(data),
        };
        let all = vec![
            metric(
                "gauge",
                metric::Data::Gauge(Gauge {
                    data_points: number_points.clone(),
                }),
            ),
            metric(
                "sum",
                metric::Data::Sum(Sum {
                    data_points: number_points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            ),
            metric(
                "histogram",
                metric::Data::Histogram(Histogram {
                    data_points: vec![
                        HistogramDataPoint {
                            attributes: every_any_value(),
                            start_time_unix_nano: 10,
                            time_unix_nano: 20,
                            count: 7,
                            sum: Some(0.0),
                            bucket_counts: vec![1, 0, 6, u64::MAX],
                            explicit_bounds: vec![-1.5, 0.0, 1e300],
                            exemplars: every_exemplar(),
                            flags: 1,
                            min: Some(-1.0),
                            max: Some(2e-300),
                        },
                        HistogramDataPoint::default(),
                    ],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
            metric(
                "exponential",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![
                        ExponentialHistogramDataPoint {
                            attributes: every_any_value(),
                            start_time_unix_nano: 11,
                            time_unix_nano: 21,
                            count: 9,
                            sum: Some(12.5),
                            scale: -3,
                            zero_count: 2,
                            positive: Some(Buckets {
                                offset: -2,
                                bucket_counts: vec![1, 2, 3],
                            }),
                            negative: Some(Buckets::default()),
                            flags: 1,
                            exemplars: every_exemplar(),
                            min: Some(0.0),
                            max: Some(8.0),
                            zero_threshold: 1e-9,
                        },
                        ExponentialHistogramDataPoint::default(),
                    ],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "summary",
                metric::Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        attributes: every_any_value(),
                        start_time_unix_nano: 12,
                        time_unix_nano: 22,
                        count: 100,
                        sum: 1234.5,
                        quantile_values: vec![
                            ValueAtQuantile {
                                quantile: 0.0,
                                value: 0.5,
                            },
                            ValueAtQuantile {
                                quantile: 0.99,
                                value: 98.7,
                            },
                        ],
                        flags: 1,
                    }],
                }),
            ),
            Metric {
                name: "no data".into(),
                description: String::new(),
                unit: String::new(),
                metadata: vec![],
                data: None,
            },
            metric("empty gauge", metric::Data::Gauge(Gauge::default())),
        ];
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(every_resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(every_scope()),
                    metrics: all,
                    schema_url: "https://scope.schema".into(),
                }],
                schema_url: "https://resource.schema".into(),
            }],
        };
        metrics_round_trip(&req);
    }

    #[test]
    fn every_log_field_round_trips() {
        let record = LogRecord {
            time_unix_nano: 1_544_712_660_300_000_000,
            observed_time_unix_nano: 1_544_712_660_300_000_001,
            severity_number: SeverityNumber::Warn as i32,
            severity_text: "WARN".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: every_any_value(),
                })),
            }),
            attributes: every_any_value(),
            dropped_attributes_count: 2,
            flags: 1,
            trace_id: hex("5b8efff798038103d269b633813fc60c"),
            span_id: hex("eee19b7ec3c1b174"),
            event_name: "codex.tool_result".into(),
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(every_resource()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(every_scope()),
                    log_records: vec![record, LogRecord::default()],
                    schema_url: "https://scope.schema".into(),
                }],
                schema_url: "https://resource.schema".into(),
            }],
        };
        logs_round_trip(&req);
    }

    #[test]
    fn encoder_writes_the_canonical_spec_form() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans: vec![Span {
                        trace_id: hex("5B8EFFF798038103D269B633813FC60C"),
                        span_id: hex("EEE19B7EC3C1B174"),
                        name: "n".into(),
                        kind: SpanKind::Client as i32,
                        start_time_unix_nano: 1_544_712_660_000_000_000,
                        attributes: vec![
                            KeyValue {
                                key: "i".into(),
                                value: Some(AnyValue {
                                    value: Some(any_value::Value::IntValue(908)),
                                }),
                                key_strindex: 0,
                            },
                            KeyValue {
                                key: "b".into(),
                                value: Some(AnyValue {
                                    value: Some(any_value::Value::BytesValue(b"hi".to_vec())),
                                }),
                                key_strindex: 0,
                            },
                        ],
                        status: Some(Status::default()),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let json = String::from_utf8(encode_traces(&req)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","#,
                r#""spanId":"eee19b7ec3c1b174","name":"n","kind":3,"startTimeUnixNano":"1544712660000000000","#,
                r#""attributes":[{"key":"i","value":{"intValue":"908"}},{"key":"b","value":{"bytesValue":"aGk="}}],"#,
                r#""status":{}}]}]}]}"#
            )
        );

        let metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "h".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                count: 3,
                                sum: Some(0.0),
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![2.5],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(
            String::from_utf8(encode_metrics(&metrics)).unwrap(),
            concat!(
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":"#,
                r#"[{"count":"3","sum":0,"bucketCounts":["1","2"],"explicitBounds":[2.5]}],"#,
                r#""aggregationTemporality":1}}]}]}]}"#
            )
        );
        assert_eq!(encode_logs(&ExportLogsServiceRequest::default()), b"{}");
    }

    // ----- edge cases --------------------------------------------------------------------------

    #[test]
    fn int64_fields_accept_numbers_and_strings() {
        use any_value::Value;
        assert_eq!(
            one_attr_value(r#"{"intValue":42}"#).unwrap().value,
            Some(Value::IntValue(42))
        );
        assert_eq!(
            one_attr_value(r#"{"intValue":"42"}"#).unwrap().value,
            Some(Value::IntValue(42))
        );
        assert_eq!(
            one_attr_value(r#"{"intValue":"-9223372036854775808"}"#)
                .unwrap()
                .value,
            Some(Value::IntValue(i64::MIN))
        );
        assert_eq!(
            one_attr_value(r#"{"intValue":9223372036854775807}"#)
                .unwrap()
                .value,
            Some(Value::IntValue(i64::MAX))
        );
        assert_eq!(
            one_attr_value(r#"{"intValue":"1e3"}"#).unwrap().value,
            Some(Value::IntValue(1000))
        );
        assert_eq!(
            one_attr_value(r#"{"intValue":5.0}"#).unwrap().value,
            Some(Value::IntValue(5))
        );
        assert!(one_attr_value(r#"{"intValue":"9223372036854775808"}"#).is_err());
        assert!(one_attr_value(r#"{"intValue":1.5}"#).is_err());
        assert!(one_attr_value(r#"{"intValue":"12a"}"#).is_err());
        assert!(one_attr_value(r#"{"intValue":" 1"}"#).is_err());
        assert!(one_attr_value(r#"{"intValue":"007"}"#).is_err());
        assert!(one_attr_value(r#"{"intValue":true}"#).is_err());

        let s = one_span(
            r#"{"startTimeUnixNano":1795236489437895552,"endTimeUnixNano":"18446744073709551615",
                "droppedAttributesCount":"7","flags":"257"}"#,
        )
        .unwrap();
        assert_eq!(s.start_time_unix_nano, 1_795_236_489_437_895_552);
        assert_eq!(s.end_time_unix_nano, u64::MAX);
        assert_eq!(s.dropped_attributes_count, 7);
        assert_eq!(s.flags, 257);
        let err = one_span(r#"{"startTimeUnixNano":-1}"#).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::Invalid);
        assert!(err.to_string().contains("out of range for uint64"), "{err}");
        assert!(one_span(r#"{"droppedAttributesCount":4294967296}"#).is_err());
        assert!(one_span(r#"{"startTimeUnixNano":"18446744073709551616"}"#).is_err());

        let m = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
                {"count":"4","bucketCounts":["1",2,"3"],"sum":"2.5"}]}}]}]}]}"#,
        )
        .unwrap();
        let Some(metric::Data::Histogram(h)) =
            &m.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!()
        };
        assert_eq!(h.data_points[0].count, 4);
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2, 3]);
        assert_eq!(h.data_points[0].sum, Some(2.5));
    }

    #[test]
    fn enums_accept_integers_and_value_names() {
        let s = one_span(r#"{"kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}}"#)
            .unwrap();
        assert_eq!(s.kind, SpanKind::Server as i32);
        assert_eq!(s.status.unwrap().code, StatusCode::Error as i32);
        assert_eq!(one_span(r#"{"kind":4}"#).unwrap().kind, 4);
        // proto3 enums are open: unknown numbers are kept.
        assert_eq!(one_span(r#"{"kind":99}"#).unwrap().kind, 99);
        let err = one_span(r#"{"kind":"SPAN_KIND_BOGUS"}"#).unwrap_err();
        assert!(err.to_string().contains("SPAN_KIND_BOGUS"), "{err}");
        assert!(one_span(r#"{"kind":"span_kind_server"}"#).is_err());

        let m = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
                {"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE"}},
                {"histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA"}},
                {"exponentialHistogram":{"aggregationTemporality":2}}]}]}]}"#,
        )
        .unwrap();
        let ms = metrics(&m);
        assert!(
            matches!(&ms[0].data, Some(metric::Data::Sum(s)) if s.aggregation_temporality == 2)
        );
        assert!(
            matches!(&ms[1].data, Some(metric::Data::Histogram(h)) if h.aggregation_temporality == 1)
        );
        assert!(
            matches!(&ms[2].data, Some(metric::Data::ExponentialHistogram(h)) if h.aggregation_temporality == 2)
        );

        let l = decode_logs(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            log_records(&l)[0].severity_number,
            SeverityNumber::Warn as i32
        );
    }

    #[test]
    fn snake_case_field_names_are_accepted() {
        let traces = decode_traces(
            br#"{"resource_spans":[{"resource":{"attributes":[],"dropped_attributes_count":1,
                "entity_refs":[{"schema_url":"u","type":"t","id_keys":["a"],"description_keys":["b"]}]},
              "schema_url":"rs","scope_spans":[{"schema_url":"ss","scope":{"name":"n","dropped_attributes_count":2},
              "spans":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
                "parent_span_id":"eee19b7ec3c1b173","trace_state":"x","start_time_unix_nano":"1",
                "end_time_unix_nano":"2","dropped_attributes_count":3,"dropped_events_count":4,
                "dropped_links_count":5,"attributes":[{"key":"k","value":{"string_value":"v"}},
                  {"key":"a","value":{"array_value":{"values":[{"int_value":"1"},{"double_value":2.5},
                  {"bool_value":true},{"bytes_value":"aGk"},{"kvlist_value":{"values":[]}}]}}},
                  {"key_strindex":9,"value":{"string_value_strindex":3}}],
                "events":[{"time_unix_nano":"9","name":"e","dropped_attributes_count":1}],
                "links":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
                  "trace_state":"y","dropped_attributes_count":6,"flags":256}]}]}]}]}"#,
        )
        .unwrap();
        let rs = &traces.resource_spans[0];
        assert_eq!(rs.schema_url, "rs");
        let res = rs.resource.as_ref().unwrap();
        assert_eq!(res.dropped_attributes_count, 1);
        assert_eq!(res.entity_refs[0].id_keys, vec!["a".to_string()]);
        assert_eq!(res.entity_refs[0].description_keys, vec!["b".to_string()]);
        assert_eq!(rs.scope_spans[0].schema_url, "ss");
        let s = &rs.scope_spans[0].spans[0];
        assert_eq!(s.trace_id, hex("5b8efff798038103d269b633813fc60c"));
        assert_eq!(s.parent_span_id, hex("eee19b7ec3c1b173"));
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (1, 2));
        assert_eq!(
            (
                s.dropped_attributes_count,
                s.dropped_events_count,
                s.dropped_links_count
            ),
            (3, 4, 5)
        );
        assert_eq!(
            attr(&s.attributes, "k"),
            Some(&any_value::Value::StringValue("v".into()))
        );
        let Some(any_value::Value::ArrayValue(a)) = attr(&s.attributes, "a") else {
            panic!()
        };
        assert_eq!(a.values.len(), 5);
        assert_eq!(
            a.values[3].value,
            Some(any_value::Value::BytesValue(b"hi".to_vec()))
        );
        assert_eq!(s.attributes[2].key_strindex, 9);
        assert_eq!(s.events[0].time_unix_nano, 9);
        assert_eq!(s.links[0].flags, 256);

        let m = decode_metrics(
            br#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
                {"sum":{"data_points":[{"as_int":"5","time_unix_nano":"3","start_time_unix_nano":"2"}],
                        "aggregation_temporality":1,"is_monotonic":true}},
                {"exponential_histogram":{"data_points":[{"zero_count":"2","zero_threshold":0.5,
                   "positive":{"offset":1,"bucket_counts":["1"]}}]}},
                {"summary":{"data_points":[{"quantile_values":[{"quantile":0.5,"value":1}]}]}},
                {"gauge":{"data_points":[{"as_double":1.5,"exemplars":[{"as_int":"3",
                   "filtered_attributes":[],"span_id":"eee19b7ec3c1b174","time_unix_nano":"1"}]}]}}]}]}]}"#,
        )
        .unwrap();
        let ms = metrics(&m);
        let Some(metric::Data::Sum(sum)) = &ms[0].data else {
            panic!()
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(5))
        );
        assert_eq!(sum.data_points[0].start_time_unix_nano, 2);
        let Some(metric::Data::ExponentialHistogram(eh)) = &ms[1].data else {
            panic!()
        };
        assert_eq!(eh.data_points[0].zero_count, 2);
        assert_eq!(
            eh.data_points[0].positive.as_ref().unwrap().bucket_counts,
            vec![1]
        );
        let Some(metric::Data::Summary(su)) = &ms[2].data else {
            panic!()
        };
        assert_eq!(su.data_points[0].quantile_values[0].value, 1.0);
        let Some(metric::Data::Gauge(g)) = &ms[3].data else {
            panic!()
        };
        assert_eq!(
            g.data_points[0].exemplars[0].value,
            Some(exemplar::Value::AsInt(3))
        );

        let l = decode_logs(
            br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"1",
                "observed_time_unix_nano":"2","severity_number":9,"severity_text":"INFO",
                "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
                "event_name":"ev","dropped_attributes_count":1}]}]}]}"#,
        )
        .unwrap();
        let r = log_records(&l)[0];
        assert_eq!((r.time_unix_nano, r.observed_time_unix_nano), (1, 2));
        assert_eq!((r.severity_number, r.severity_text.as_str()), (9, "INFO"));
        assert_eq!(r.event_name, "ev");
        assert_eq!(r.span_id, hex("eee19b7ec3c1b174"));
    }

    #[test]
    fn unknown_fields_are_ignored_at_every_level() {
        let req = decode_traces(
            br#"{"extra":{"deep":[1,2,{"x":[null,true,false,"s\"\u00e9",-1.5e3]}]},
                 "resourceSpans":[{"unknownArray":[[[]],{}],"scopeSpans":[{"spans":[
                   {"name":"a","newField2030":{"nested":{"objects":[{"and":"arrays"}]}},
                    "attributes":[{"key":"k","futureKey":1,"value":{"stringValue":"v","futureValue":{"a":[]}}}]}]}]}],
                 "trailingUnknown":"x"}"#,
        )
        .unwrap();
        let s = spans(&req)[0];
        assert_eq!(s.name, "a");
        assert_eq!(
            attr(&s.attributes, "k"),
            Some(&any_value::Value::StringValue("v".into()))
        );
        // Unknown values must still be well-formed JSON.
        assert!(decode_traces(br#"{"extra":[1,}"#).is_err());
        assert!(decode_traces(br#"{"extra":tru}"#).is_err());
    }

    #[test]
    fn null_fields_decode_as_defaults() {
        let req = decode_traces(
            br#"{"resourceSpans":[{"resource":null,"schemaUrl":null,"scopeSpans":[{"scope":null,
                "spans":[{"traceId":null,"spanId":null,"name":null,"kind":null,"flags":null,
                "startTimeUnixNano":null,"attributes":null,"events":null,"links":null,"status":null,
                "droppedAttributesCount":null}, null]}]}]}"#,
        )
        .unwrap();
        let rs = &req.resource_spans[0];
        assert_eq!(rs.resource, None);
        assert_eq!(rs.scope_spans[0].scope, None);
        assert_eq!(
            rs.scope_spans[0].spans,
            vec![Span::default(), Span::default()]
        );
        assert_eq!(
            decode_traces(br#"{"resourceSpans":null}"#).unwrap(),
            Default::default()
        );
        assert_eq!(
            one_attr_value(r#"{"stringValue":null}"#).unwrap().value,
            None
        );
        assert_eq!(log_body("null").unwrap(), None);
        assert_eq!(log_body("{}").unwrap(), Some(AnyValue::default()));
        let m = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
                {"sum":null,"min":null,"max":null,"count":null,"bucketCounts":null}]}}]}]}]}"#,
        )
        .unwrap();
        let Some(metric::Data::Histogram(h)) = &metrics(&m)[0].data else {
            panic!()
        };
        assert_eq!(h.data_points[0], HistogramDataPoint::default());
    }

    #[test]
    fn bad_hex_ids_are_errors() {
        let err = one_span(r#"{"traceId":"5b8efff798038103d269b633813fc60"}"#).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::Invalid);
        assert_eq!(
            err.path(),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId"
        );
        assert!(
            err.reason().contains("expected 32 hex characters, got 31"),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(
                "invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].traceId (byte "
            ),
            "{err}"
        );
        for bad in [
            r#"{"traceId":"zz8efff798038103d269b633813fc60c"}"#,
            r#"{"traceId":"0x8efff798038103d269b633813fc60c"}"#,
            r#"{"spanId":"eee19b7ec3c1b17"}"#,
            r#"{"spanId":"eee19b7ec3c1b1745"}"#,
            r#"{"parentSpanId":"ZZZZZZZZZZZZZZZZ"}"#,
            r#"{"spanId":12}"#,
            r#"{"links":[{"traceId":"abc"}]}"#,
            // base64 (what protobuf's generic JSON mapping would send) is not hex.
            r#"{"traceId":"W47/95gDgQPSabYzgT/GDA=="}"#,
        ] {
            assert!(one_span(bad).is_err(), "{bad}");
        }
        let s = one_span(r#"{"traceId":"5B8EFFF798038103d269b633813fc60c","spanId":""}"#).unwrap();
        assert_eq!(s.trace_id, hex("5b8efff798038103d269b633813fc60c"));
        assert!(s.span_id.is_empty());
        let err = decode_logs(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"spanId":"xyz"}]}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.path(),
            "resourceLogs[0].scopeLogs[0].logRecords[1].spanId"
        );
    }

    #[test]
    fn bytes_value_is_base64_with_or_without_padding() {
        use any_value::Value;
        for (text, bytes) in [
            (r#""aGk=""#, b"hi".to_vec()),
            (r#""aGk""#, b"hi".to_vec()),
            (r#""""#, vec![]),
            (r#""-_8""#, vec![0xfb, 0xff]),
            (r#""+/8=""#, vec![0xfb, 0xff]),
        ] {
            assert_eq!(
                one_attr_value(&format!(r#"{{"bytesValue":{text}}}"#))
                    .unwrap()
                    .value,
                Some(Value::BytesValue(bytes)),
                "{text}"
            );
        }
        for bad in [r#""!!!!""#, r#""a""#, r#""aGk=x""#, "12"] {
            let err = one_attr_value(&format!(r#"{{"bytesValue":{bad}}}"#)).unwrap_err();
            assert_eq!(err.kind(), JsonErrorKind::Invalid, "{bad}: {err}");
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"}",
            b"{\"resourceSpans\":[}",
            b"{\"resourceSpans\":[],}",
            b"{\"resourceSpans\" []}",
            b"{resourceSpans:[]}",
            b"{'resourceSpans':[]}",
            b"{} {}",
            b"{}x",
            b"{\"a\":\"unterminated}",
            b"{\"a\":\"bad \\x escape\"}",
            b"{\"a\":\"raw \n newline\"}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":+1}",
            b"{\"a\":nul}",
            b"{\"a\":NaN}",
            b"\xff\xfe{}",
            b"{\"a\":\"\xc3\x28\"}",
        ] {
            let err = decode_traces(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                JsonErrorKind::Syntax,
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        // Valid JSON of the wrong shape.
        for bad in [
            &b"[]"[..],
            b"null",
            b"1",
            b"\"x\"",
            b"{\"resourceSpans\":{}}",
        ] {
            let err = decode_traces(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                JsonErrorKind::Invalid,
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        let err =
            decode_traces(b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":1}]}]}]}")
                .unwrap_err();
        assert_eq!(err.path(), "resourceSpans[0].scopeSpans[0].spans[0].name");
        assert!(
            err.reason().contains("expected a string, found a number"),
            "{err}"
        );
        // A UTF-8 byte order mark and surrounding whitespace are fine.
        assert!(decode_traces(b"\xEF\xBB\xBF \n{}\r\n").is_ok());
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let n = 10_000;
        let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
        for _ in 0..n {
            body.push_str(r#"{"arrayValue":{"values":["#);
        }
        for _ in 0..n {
            body.push_str("]}}");
        }
        body.push_str("}]}]}]}");
        let err = decode_logs(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::TooDeep, "{err}");

        // Deep unknown fields: arrays, objects, and both interleaved.
        for (open, close) in [("[", "]"), (r#"{"a":"#, "}"), (r#"[{"a":"#, "}]")] {
            let body = format!(r#"{{"unknown":{}1{}}}"#, open.repeat(n), close.repeat(n));
            let err = decode_traces(body.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), JsonErrorKind::TooDeep, "{err}");
            // Unclosed too.
            let body = format!(r#"{{"unknown":{}"#, open.repeat(n));
            assert!(decode_traces(body.as_bytes()).is_err());
        }
        let err = decode_traces(&b"[".repeat(100_000)).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::Invalid);
    }

    /// `levels` kvlistValues nested in a log body.
    fn nested_kvlist(levels: usize) -> String {
        let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
        for _ in 0..levels {
            body.push_str(r#"{"kvlistValue":{"values":[{"key":"k","value":"#);
        }
        body.push_str(r#"{"intValue":"1"}"#);
        for _ in 0..levels {
            body.push_str("}]}}");
        }
        body.push_str("}]}]}]}");
        body
    }

    #[test]
    fn any_value_nesting_is_capped_at_128_levels() {
        let deepest = decode_logs(nested_kvlist(128).as_bytes()).unwrap();
        logs_round_trip_without_serde_json(&deepest);
        // Worst case for the stack: the deepest typed nesting plus unknown junk nested up to the
        // overall JSON limit inside it.
        let junk = format!(
            r#"{{"intValue":"1","junk":{}0{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        let worst = nested_kvlist(128).replace(r#"{"intValue":"1"}"#, &junk);
        assert_eq!(decode_logs(worst.as_bytes()).unwrap(), deepest);
        let err = decode_logs(nested_kvlist(129).as_bytes()).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::TooDeep);
        assert!(err.reason().contains("128"), "{err}");

        let mut arrays = r#"{"arrayValue":{"values":["#.repeat(129);
        arrays.push_str(&"]}}".repeat(129));
        assert_eq!(
            log_body(&arrays).unwrap_err().kind(),
            JsonErrorKind::TooDeep
        );

        // Values built in code deeper than the cap still encode (to something decodable).
        let mut v = AnyValue {
            value: Some(any_value::Value::IntValue(1)),
        };
        for _ in 0..300 {
            v = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        body: Some(v),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let back = decode_logs(&encode_logs(&req)).unwrap();
        let mut depth = 0;
        let mut cur = log_records(&back)[0].body.clone().unwrap();
        while let Some(any_value::Value::ArrayValue(a)) = cur.value {
            depth += 1;
            cur = a.values[0].clone();
        }
        assert_eq!(depth, 128);
    }

    /// Round trip for values too deep for serde_json's own 128-level limit.
    fn logs_round_trip_without_serde_json(req: &ExportLogsServiceRequest) {
        assert_eq!(&decode_logs(&encode_logs(req)).unwrap(), req);
    }

    #[test]
    fn nan_and_infinity_doubles() {
        use any_value::Value;
        let v = |json: &str| match one_attr_value(json).unwrap().value {
            Some(Value::DoubleValue(d)) => d,
            other => panic!("{other:?}"),
        };
        assert!(v(r#"{"doubleValue":"NaN"}"#).is_nan());
        assert_eq!(v(r#"{"doubleValue":"Infinity"}"#), f64::INFINITY);
        assert_eq!(v(r#"{"doubleValue":"-Infinity"}"#), f64::NEG_INFINITY);
        assert_eq!(v(r#"{"doubleValue":"2.5"}"#), 2.5);
        assert_eq!(v(r#"{"doubleValue":7}"#), 7.0);
        assert_eq!(v(r#"{"doubleValue":-1E-3}"#), -0.001);
        for bad in [
            r#""nan""#,
            r#""inf""#,
            r#""+Infinity""#,
            r#""1.5x""#,
            "1e400",
            "true",
        ] {
            assert!(
                one_attr_value(&format!(r#"{{"doubleValue":{bad}}}"#)).is_err(),
                "{bad}"
            );
        }

        let dp = HistogramDataPoint {
            sum: Some(f64::NAN),
            min: Some(f64::NEG_INFINITY),
            max: Some(f64::INFINITY),
            explicit_bounds: vec![f64::NEG_INFINITY, 0.0, f64::NAN],
            ..Default::default()
        };
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![dp],
                            aggregation_temporality: 0,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let json = String::from_utf8(encode_metrics(&req)).unwrap();
        assert!(json.contains(r#""sum":"NaN""#), "{json}");
        assert!(json.contains(r#""min":"-Infinity""#), "{json}");
        assert!(json.contains(r#""max":"Infinity""#), "{json}");
        assert!(
            json.contains(r#""explicitBounds":["-Infinity",0,"NaN"]"#),
            "{json}"
        );
        let back = decode_metrics(json.as_bytes()).unwrap();
        let Some(metric::Data::Histogram(h)) = &metrics(&back)[0].data else {
            panic!()
        };
        let dp = &h.data_points[0];
        assert!(dp.sum.unwrap().is_nan());
        assert_eq!(dp.min, Some(f64::NEG_INFINITY));
        assert_eq!(dp.max, Some(f64::INFINITY));
        assert!(dp.explicit_bounds[2].is_nan());
    }

    #[test]
    fn doubles_round_trip_bit_for_bit() {
        let values = vec![
            0.1 + 0.2,
            1.0 / 3.0,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            -0.0,
            1e21,
            1e16,
            9_007_199_254_740_993.0,
            123_456_789.123_456_78,
            2.5e-7,
            1e-6,
            0.000_001_234,
            18_446_744_073_709_551_616.0,
            -9_223_372_036_854_775_808.0,
            std::f64::consts::PI,
        ];
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                explicit_bounds: values.clone(),
                                ..Default::default()
                            }],
                            aggregation_temporality: 0,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let back = decode_metrics(&encode_metrics(&req)).unwrap();
        let Some(metric::Data::Histogram(h)) = &metrics(&back)[0].data else {
            panic!()
        };
        let got: Vec<u64> = h.data_points[0]
            .explicit_bounds
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn strings_with_escapes_round_trip() {
        use any_value::Value;
        assert_eq!(
            one_attr_value(r#"{"stringValue":"a\"b\\c\/d\b\f\n\r\t\u0001\u00e9\ud83d\ude00"}"#)
                .unwrap()
                .value,
            Some(Value::StringValue(
                "a\"b\\c/d\u{8}\u{c}\n\r\t\u{1}é😀".into()
            ))
        );
        // Unpaired surrogates become U+FFFD rather than failing the whole batch.
        assert_eq!(
            one_attr_value(r#"{"stringValue":"x\ud800y\udc00z\ud800\u0041"}"#)
                .unwrap()
                .value,
            Some(Value::StringValue("x\u{FFFD}y\u{FFFD}z\u{FFFD}A".into()))
        );
        // Escaped field names are still recognised.
        assert_eq!(
            one_attr_value(r#"{"string\u0056alue":"v"}"#).unwrap().value,
            Some(Value::StringValue("v".into()))
        );
        let all_controls: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\/\u{7f}".chars())
            .collect();
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        severity_text: all_controls.clone(),
                        event_name: "€ 😀 \u{2028}\u{2029}".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        logs_round_trip(&req);
        let json = encode_logs(&req);
        let tree: J = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            tree["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"],
            J::String(all_controls)
        );
    }

    #[test]
    fn responses_round_trip_and_accept_empty_bodies() {
        let t = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "3 spans had \"bad\" ids".into(),
            }),
        };
        let json = encode_trace_response(&t);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"3 spans had \"bad\" ids"}}"#
        );
        assert_eq!(decode_trace_response(&json).unwrap(), t);
        assert_eq!(
            encode_trace_response(&ExportTraceServiceResponse::default()),
            b"{}"
        );

        let m = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 0,
                error_message: "warning only".into(),
            }),
        };
        assert_eq!(
            decode_metrics_response(&encode_metrics_response(&m)).unwrap(),
            m
        );
        let l = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: i64::MAX,
                error_message: String::new(),
            }),
        };
        assert_eq!(decode_logs_response(&encode_logs_response(&l)).unwrap(), l);
        assert_eq!(
            decode_logs_response(&encode_logs_response(&ExportLogsServiceResponse::default()))
                .unwrap(),
            ExportLogsServiceResponse::default()
        );

        // What real servers send.
        assert_eq!(
            decode_trace_response(b"").unwrap(),
            ExportTraceServiceResponse::default()
        );
        assert_eq!(
            decode_trace_response(b"{}").unwrap(),
            ExportTraceServiceResponse::default()
        );
        assert_eq!(
            decode_trace_response(br#"{"partialSuccess":{}}"#).unwrap(),
            ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess::default())
            }
        );
        assert_eq!(
            decode_metrics_response(br#"{"partial_success":{"rejected_data_points":2,"x":1}}"#)
                .unwrap()
                .partial_success
                .unwrap()
                .rejected_data_points,
            2
        );
        assert_eq!(
            decode_logs_response(
                br#"{"partialSuccess":{"rejectedLogRecords":"5","errorMessage":"m"}}"#
            )
            .unwrap()
            .partial_success
            .unwrap(),
            ExportLogsPartialSuccess {
                rejected_log_records: 5,
                error_message: "m".into()
            }
        );
        assert!(decode_trace_response(b"<html>bad gateway</html>").is_err());
        assert!(decode_trace_response(br#"{"partialSuccess":{"rejectedSpans":"x"}}"#).is_err());
    }

    #[test]
    fn oneof_last_member_wins_and_empty_any_value_is_unset() {
        use any_value::Value;
        assert_eq!(
            one_attr_value(r#"{"stringValue":"a","intValue":"2"}"#)
                .unwrap()
                .value,
            Some(Value::IntValue(2))
        );
        assert_eq!(one_attr_value("{}").unwrap().value, None);
        assert_eq!(
            one_attr_value(r#"{"arrayValue":{}}"#).unwrap().value,
            Some(Value::ArrayValue(ArrayValue::default()))
        );
        assert_eq!(
            one_attr_value(r#"{"arrayValue":{"values":[null,{}]}}"#)
                .unwrap()
                .value,
            Some(Value::ArrayValue(ArrayValue {
                values: vec![AnyValue::default(), AnyValue::default()]
            }))
        );
    }
}
