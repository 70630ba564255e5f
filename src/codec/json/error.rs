//! Errors of the OTLP/JSON decoder: the public [`JsonError`] with the path to the offending
//! field, and the boxed parser-internal error that collects that path on its way up.

use std::borrow::Cow;
use std::fmt;

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

pub(super) fn display_path(path: &str) -> &str {
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
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) struct ErrInner {
    kind: JsonErrorKind,
    offset: usize,
    reason: Cow<'static, str>,
    /// Innermost step first.
    path: Vec<Seg>,
}

/// Parser-internal error: boxed so that `Result`s stay small on the hot path.
pub(super) struct PErr(Box<ErrInner>);

pub(super) type PResult<T> = Result<T, PErr>;

impl PErr {
    pub(super) fn new(
        kind: JsonErrorKind,
        offset: usize,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        PErr(Box::new(ErrInner {
            kind,
            offset,
            reason: reason.into(),
            path: Vec::new(),
        }))
    }

    pub(super) fn in_key(mut self, key: &str) -> Self {
        self.0.path.push(Seg::Key(key.to_owned()));
        self
    }

    pub(super) fn in_index(mut self, index: usize) -> Self {
        self.0.path.push(Seg::Index(index));
        self
    }

    pub(super) fn into_public(self) -> JsonError {
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
pub(super) fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}
