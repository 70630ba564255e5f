//! The JSON pull parser: a recursive-descent reader over a UTF-8-validated body, with the
//! number, id, enum-name and base64 rules of the OTLP JSON mapping.

use super::error::*;
use std::borrow::Cow;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

/// Deepest nesting of `arrayValue` / `kvlistValue` containers inside one `AnyValue`.
pub(super) const MAX_ANY_VALUE_DEPTH: u32 = 128;
/// Deepest nesting of JSON objects and arrays in a body (128 AnyValue levels of `kvlistValue`
/// take 4 JSON levels each, plus the envelope around them).
pub(super) const MAX_JSON_DEPTH: u32 = 640;
/// Byte length of a trace id.
pub(super) const TRACE_ID_LEN: usize = 16;
/// Byte length of a span id.
pub(super) const SPAN_ID_LEN: usize = 8;

// ---------------------------------------------------------------------------------------------
// JSON pull parser
// ---------------------------------------------------------------------------------------------

pub(super) const BASE64_ANY_PAD: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
pub(super) const BASE64_STANDARD_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, BASE64_ANY_PAD);
pub(super) const BASE64_URL_SAFE_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_ANY_PAD);

/// Recursive-descent pull parser over a UTF-8-validated body.
pub(super) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    /// Offset of the next byte to read.
    pub(super) pos: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    pub(super) fn new(body: &'a [u8]) -> Result<Self, JsonError> {
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
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(super) fn syntax(&self, reason: impl Into<Cow<'static, str>>) -> PErr {
        PErr::new(JsonErrorKind::Syntax, self.pos, reason)
    }

    pub(super) fn invalid_at(&self, offset: usize, reason: impl Into<Cow<'static, str>>) -> PErr {
        PErr::new(JsonErrorKind::Invalid, offset, reason)
    }

    /// "expected X, found Y" for the value starting at the current position.
    pub(super) fn type_err(&self, expected: &str) -> PErr {
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
    pub(super) fn slice(&self, a: usize, b: usize) -> PResult<&'a str> {
        self.src
            .get(a..b)
            .ok_or_else(|| PErr::new(JsonErrorKind::Syntax, a, "string split inside a character"))
    }

    pub(super) fn enter(&mut self) -> PResult<()> {
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

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    #[inline]
    pub(super) fn at_null(&self) -> bool {
        self.bytes
            .get(self.pos..self.pos + 4)
            .is_some_and(|b| b == b"null")
    }

    pub(super) fn literal(&mut self, lit: &'static [u8]) -> PResult<()> {
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
    pub(super) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &str) -> PResult<bool>,
    ) -> PResult<()> {
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
    pub(super) fn array<T: Default>(
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
    pub(super) fn skip_value(&mut self) -> PResult<()> {
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
    pub(super) fn string(&mut self) -> PResult<Cow<'a, str>> {
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

    /// One escape sequence after the backslash. An unpaired UTF-16 surrogate is an error (as
    /// in protobuf's JSON mapping): it encodes no character.
    pub(super) fn escape(&mut self, out: &mut String) -> PResult<()> {
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
                let start = self.pos - 2;
                let hi = self.hex4()?;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                        self.pos += 2;
                        let lo = self.hex4()?;
                        (0xDC00..0xE000).contains(&lo).then(|| {
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        })
                    } else {
                        None
                    }
                } else {
                    Some(char::from_u32(hi))
                };
                match ch.flatten() {
                    Some(ch) => out.push(ch),
                    None => {
                        self.pos = start;
                        return Err(self.syntax(format!(
                            "unpaired UTF-16 surrogate \\u{hi:04X} in a string (not a character)"
                        )));
                    }
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax("invalid escape sequence in a string"));
            }
        }
        Ok(())
    }

    pub(super) fn hex4(&mut self) -> PResult<u32> {
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
    pub(super) fn number_token(&mut self) -> PResult<&'a str> {
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

    pub(super) fn string_owned(&mut self) -> PResult<String> {
        self.string().map(Cow::into_owned)
    }

    pub(super) fn boolean(&mut self) -> PResult<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(self.type_err("a boolean")),
        }
    }

    /// Any integer, as a JSON number or a string holding one.
    pub(super) fn integer(&mut self) -> PResult<i128> {
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

    pub(super) fn ranged<T: TryFrom<i128>>(&mut self, type_name: &'static str) -> PResult<T> {
        let start = self.pos;
        let v = self.integer()?;
        T::try_from(v)
            .map_err(|_| self.invalid_at(start, format!("{v} is out of range for {type_name}")))
    }

    pub(super) fn u64(&mut self) -> PResult<u64> {
        self.ranged("uint64")
    }

    pub(super) fn i64(&mut self) -> PResult<i64> {
        self.ranged("int64")
    }

    pub(super) fn u32(&mut self) -> PResult<u32> {
        self.ranged("uint32")
    }

    pub(super) fn i32(&mut self) -> PResult<i32> {
        self.ranged("int32")
    }

    pub(super) fn f64(&mut self) -> PResult<f64> {
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
    pub(super) fn enumeration(&mut self, by_name: fn(&str) -> Option<i32>) -> PResult<i32> {
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
    pub(super) fn id(&mut self, len: usize) -> PResult<Vec<u8>> {
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
    pub(super) fn base64(&mut self) -> PResult<Vec<u8>> {
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
pub(super) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `Some(is_integer)` when `s` is exactly a JSON number (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
pub(super) fn number_shape(s: &[u8]) -> Option<bool> {
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
pub(super) fn int_from_text(s: &str) -> Result<i128, Cow<'static, str>> {
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
pub(super) fn finite_f64(s: &str) -> Result<f64, Cow<'static, str>> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{} is out of range for a double", clip(s)).into()),
        Err(_) => Err(format!("invalid number {}", clip(s)).into()),
    }
}

pub(super) fn span_kind_by_name(s: &str) -> Option<i32> {
    SpanKind::from_str_name(s).map(|v| v as i32)
}

pub(super) fn status_code_by_name(s: &str) -> Option<i32> {
    StatusCode::from_str_name(s).map(|v| v as i32)
}

pub(super) fn temporality_by_name(s: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(s).map(|v| v as i32)
}

pub(super) fn severity_by_name(s: &str) -> Option<i32> {
    SeverityNumber::from_str_name(s).map(|v| v as i32)
}

/// Runs `f` over the whole body; only whitespace may follow the value.
pub(super) fn decode_body<T>(
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
