//! Logs requests processed as views of their protobuf bytes, not decoded.
//!
//! Place in the flow: the gateway's ingest entry point reads a protobuf logs request into a
//! [`LogsView`] when every pipeline of the logs signal can work on one (each processor says so
//! with [`crate::Processor::handles_log_views`]); the processors then edit the view in place and
//! the entry point encodes it once for the exporters. Every string of a log record (body,
//! attribute keys and values, severity text, event name) borrows the request body until a
//! processor changes it, so a request costs a few vectors instead of an allocation per string,
//! and the decoded request is never built nor dropped. Resources and scopes, one or a few per
//! request, are decoded as usual so the processors keep a single implementation for them.
//!
//! [`LogsView::parse`] is strict: it returns `None` for anything it would not read exactly as
//! prost does, or that the receiver's limits would change (a singular message field given twice,
//! an invalid id length, a list or string over the limits, nesting deeper than
//! [`MAX_VIEW_DEPTH`], an empty resource or scope, groups); the entry point then decodes the
//! request the usual way. For every request it accepts, [`LogsView::encode_to_vec`] writes
//! exactly the bytes prost writes for the decoded request (fields in tag order, defaults left
//! out), and [`LogsView::to_request`] is the decoded request itself (tests check both).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_varint, encoded_len_varint, WireType};
use prost::Message;
use std::borrow::Cow;

/// Deepest nesting of array / kvlist values a view holds (a scalar value has depth 0); deeper
/// requests are decoded the usual way (whose walks need no recursion).
pub const MAX_VIEW_DEPTH: usize = 8;

/// What the receiver's `limits:` allow; a request they would change is not viewed.
#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    /// Attributes per list (`max_attributes_per_item`).
    pub max_attributes: usize,
    /// Longest string value in bytes (`max_string_length`).
    pub max_string: usize,
    /// Deepest nesting of array / kvlist values (`max_nesting_depth`).
    pub max_depth: usize,
    /// Log records per request (`max_items_per_request`).
    pub max_items: u64,
}

/// An `ExportLogsServiceRequest` whose log records borrow the request bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsView<'a> {
    /// The request's `resource_logs`.
    pub resource_logs: Vec<ResourceLogsView<'a>>,
}

/// A `ResourceLogs`: its resource decoded, its records viewed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceLogsView<'a> {
    /// The resource, decoded.
    pub resource: Option<Resource>,
    /// Its scopes.
    pub scope_logs: Vec<ScopeLogsView<'a>>,
    /// `schema_url`.
    pub schema_url: Cow<'a, str>,
}

/// A `ScopeLogs`: its scope decoded, its records viewed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeLogsView<'a> {
    /// The instrumentation scope, decoded.
    pub scope: Option<InstrumentationScope>,
    /// Its log records.
    pub log_records: Vec<RecordView<'a>>,
    /// `schema_url`.
    pub schema_url: Cow<'a, str>,
}

/// A `LogRecord`, field for field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordView<'a> {
    /// `time_unix_nano`.
    pub time_unix_nano: u64,
    /// `observed_time_unix_nano`.
    pub observed_time_unix_nano: u64,
    /// `severity_number`.
    pub severity_number: i32,
    /// `severity_text`.
    pub severity_text: Cow<'a, str>,
    /// `body`.
    pub body: Option<ValueView<'a>>,
    /// `attributes`.
    pub attributes: Vec<KvView<'a>>,
    /// `dropped_attributes_count`.
    pub dropped_attributes_count: u32,
    /// `flags`.
    pub flags: u32,
    /// `trace_id` (16 bytes or empty).
    pub trace_id: &'a [u8],
    /// `span_id` (8 bytes or empty).
    pub span_id: &'a [u8],
    /// `event_name`.
    pub event_name: Cow<'a, str>,
}

/// A `KeyValue`.
#[derive(Debug, Clone, Default)]
pub struct KvView<'a> {
    /// `key`.
    pub key: Cow<'a, str>,
    /// `value` (`None`: the field is absent).
    pub value: Option<ValueView<'a>>,
    /// `key_strindex`.
    pub key_strindex: i32,
    /// The attribute's own bytes in the request when they are prost's encoding of a non-empty
    /// key and a string value, which `key` and `value` then borrow; written as they are while
    /// both still borrow exactly those bytes ([`KvView::pristine`]), re-encoded otherwise.
    raw: &'a [u8],
}

/// Equal when the key, value and key index are: `raw` is how an attribute was read, not what
/// it is.
impl PartialEq for KvView<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value == other.value
            && self.key_strindex == other.key_strindex
    }
}

/// An `AnyValue` (`value: None` is the empty message).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueView<'a> {
    /// The `value` one-of.
    pub value: Option<Val<'a>>,
}

/// The `AnyValue.value` one-of.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// `string_value`.
    String(Cow<'a, str>),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `array_value`.
    Array(Vec<ValueView<'a>>),
    /// `kvlist_value`.
    Kvlist(Vec<KvView<'a>>),
    /// `bytes_value`.
    Bytes(&'a [u8]),
    /// `string_value_strindex`.
    Strindex(i32),
}

impl<'a> ValueView<'a> {
    /// A string value.
    pub fn string(s: impl Into<Cow<'a, str>>) -> Self {
        ValueView {
            value: Some(Val::String(s.into())),
        }
    }

    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Some(Val::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The decoded `AnyValue`.
    pub fn to_any_value(&self) -> AnyValue {
        let value = self.value.as_ref().map(|v| match v {
            Val::String(s) => Value::StringValue(s.to_string()),
            Val::Bool(b) => Value::BoolValue(*b),
            Val::Int(i) => Value::IntValue(*i),
            Val::Double(d) => Value::DoubleValue(*d),
            Val::Array(a) => Value::ArrayValue(ArrayValue {
                values: a.iter().map(ValueView::to_any_value).collect(),
            }),
            Val::Kvlist(l) => Value::KvlistValue(KeyValueList {
                values: l.iter().map(KvView::to_key_value).collect(),
            }),
            Val::Bytes(b) => Value::BytesValue(b.to_vec()),
            Val::Strindex(i) => Value::StringValueStrindex(*i),
        });
        AnyValue { value }
    }
}

impl Val<'_> {
    /// A decoded scalar value as a view (`None` for arrays, kvlists and bytes).
    pub fn scalar(v: Value) -> Option<Val<'static>> {
        Some(match v {
            Value::StringValue(s) => Val::String(Cow::Owned(s)),
            Value::BoolValue(b) => Val::Bool(b),
            Value::IntValue(i) => Val::Int(i),
            Value::DoubleValue(d) => Val::Double(d),
            Value::StringValueStrindex(i) => Val::Strindex(i),
            Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_) => return None,
        })
    }
}

impl<'a> KvView<'a> {
    /// An attribute.
    pub fn new(key: impl Into<Cow<'a, str>>, value: Option<ValueView<'a>>) -> Self {
        KvView {
            key: key.into(),
            value,
            ..KvView::default()
        }
    }

    /// `raw`, when the key and the value still borrow exactly its bytes: then they are what was
    /// read, unchanged, and `raw` is their encoding.
    #[inline]
    fn pristine(&self) -> Option<&'a [u8]> {
        let raw = self.raw;
        let Cow::Borrowed(key) = &self.key else {
            return None;
        };
        let key_at = raw.get(2..2 + key.len())?;
        if !std::ptr::eq(key_at.as_ptr(), key.as_ptr()) || self.key_strindex != 0 {
            return None;
        }
        let value_at = raw.get(2 + key.len()..)?;
        let same = match self.value.as_ref().and_then(|v| v.value.as_ref())? {
            // `12 vlen 0a slen str`, `str` where the string still points, at its length.
            Val::String(Cow::Borrowed(s)) => u8::try_from(s.len()).is_ok_and(|len| {
                value_at.len() == 4 + s.len()
                    && value_at[..4] == [0x12, len.wrapping_add(2), 0x0a, len]
                    && std::ptr::eq(value_at[4..].as_ptr(), s.as_ptr())
            }),
            // `12 02 10 <0|1>`: the value still the one those bytes hold.
            Val::Bool(b) => value_at == [0x12, 0x02, 0x10, u8::from(*b)],
            _ => false,
        };
        same.then_some(raw)
    }

    /// The decoded `KeyValue`.
    pub fn to_key_value(&self) -> KeyValue {
        KeyValue {
            key: self.key.to_string(),
            value: self.value.as_ref().map(ValueView::to_any_value),
            key_strindex: self.key_strindex,
        }
    }
}

/// The value of the first attribute named `key`.
pub fn find_view_attr<'v, 'a>(attrs: &'v [KvView<'a>], key: &str) -> Option<&'v Val<'a>> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The reader's state: the limits and the nesting depth a container may have.
struct Reader {
    limits: ViewLimits,
    /// Containers at this depth or deeper make the request fall back.
    max_container_depth: usize,
}

/// A varint; one-byte values (most keys and lengths) without a loop.
#[inline(always)]
fn varint(buf: &mut &[u8]) -> Option<u64> {
    match buf.first() {
        Some(&b) if b < 0x80 => {
            *buf = &buf[1..];
            Some(u64::from(b))
        }
        _ => decode_varint(buf).ok(),
    }
}

/// One field's key: (tag, wire type), as prost reads it (tag 0 and wire types 6 and 7 are
/// errors).
#[inline(always)]
fn key(buf: &mut &[u8]) -> Option<(u32, WireType)> {
    let key = u32::try_from(varint(buf)?).ok()?;
    let wire = match key & 7 {
        0 => WireType::Varint,
        1 => WireType::SixtyFourBit,
        2 => WireType::LengthDelimited,
        3 => WireType::StartGroup,
        4 => WireType::EndGroup,
        5 => WireType::ThirtyTwoBit,
        _ => return None,
    };
    let tag = key >> 3;
    (tag > 0).then_some((tag, wire))
}

#[inline(always)]
fn delimited<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(buf)?).ok()?;
    if len > buf.len() {
        return None;
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Some(head)
}

#[inline]
fn fixed<const N: usize>(buf: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = buf.split_first_chunk::<N>()?;
    *buf = tail;
    Some(*head)
}

#[inline]
fn text<'a>(buf: &mut &'a [u8]) -> Option<Cow<'a, str>> {
    std::str::from_utf8(delimited(buf)?).ok().map(Cow::Borrowed)
}

/// How many length-delimited fields `tag` a message holds (an upper bound for a vector's size;
/// 0 when the message does not read).
fn count_field(mut buf: &[u8], tag: u32) -> usize {
    let mut n = 0;
    while !buf.is_empty() {
        let Some((t, wire)) = key(&mut buf) else {
            return n;
        };
        n += usize::from(t == tag && wire == WireType::LengthDelimited);
        if skip(wire, &mut buf).is_none() {
            return n;
        }
    }
    n
}

/// Skips a field prost would skip; groups are not read (the request falls back).
fn skip(wire: WireType, buf: &mut &[u8]) -> Option<()> {
    match wire {
        WireType::Varint => varint(buf).map(drop),
        WireType::SixtyFourBit => fixed::<8>(buf).map(drop),
        WireType::ThirtyTwoBit => fixed::<4>(buf).map(drop),
        WireType::LengthDelimited => delimited(buf).map(drop),
        WireType::StartGroup | WireType::EndGroup => None,
    }
}

/// `Some(())` when `wire` is `want` (prost refuses a known field with another wire type).
fn want(wire: WireType, want: WireType) -> Option<()> {
    (wire == want).then_some(())
}

/// The depth of the deepest container in `attrs` is below `max` (decoded resources and scopes).
fn shallow(attrs: &[KeyValue], max: usize) -> bool {
    fn value(v: &AnyValue, depth: usize, max: usize) -> bool {
        match &v.value {
            Some(Value::ArrayValue(a)) => {
                depth < max && a.values.iter().all(|c| value(c, depth + 1, max))
            }
            Some(Value::KvlistValue(l)) => {
                depth < max
                    && l.values
                        .iter()
                        .all(|kv| kv.value.as_ref().is_none_or(|c| value(c, depth + 1, max)))
            }
            _ => true,
        }
    }
    attrs
        .iter()
        .all(|kv| kv.value.as_ref().is_none_or(|v| value(v, 0, max)))
}

impl<'a> LogsView<'a> {
    /// Reads a protobuf `ExportLogsServiceRequest`; `None` when the request must be decoded
    /// the usual way instead (see the module docs). A request with no log record is `None`.
    pub fn parse(body: &'a [u8], limits: &ViewLimits) -> Option<LogsView<'a>> {
        let r = Reader {
            limits: *limits,
            max_container_depth: limits.max_depth.min(MAX_VIEW_DEPTH),
        };
        let mut buf = body;
        let mut view = LogsView::default();
        let mut items = 0u64;
        while !buf.is_empty() {
            match key(&mut buf)? {
                (1, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    let rl = r.resource_logs(delimited(&mut buf)?)?;
                    items += rl
                        .scope_logs
                        .iter()
                        .map(|s| s.log_records.len() as u64)
                        .sum::<u64>();
                    view.resource_logs.push(rl);
                }
                (_, wire) => skip(wire, &mut buf)?,
            }
        }
        (items > 0 && items <= limits.max_items).then_some(view)
    }

    /// Log records in the request.
    pub fn item_count(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }
}

impl Reader {
    /// A decoded resource or scope, unless its attributes break the limits' depth (their list
    /// lengths and strings are limited by the gateway as in a decoded request).
    fn decoded<M: Message + Default>(
        &self,
        bytes: &[u8],
        attrs: fn(&M) -> &[KeyValue],
    ) -> Option<M> {
        let m = M::decode(bytes).ok()?;
        shallow(attrs(&m), self.max_container_depth).then_some(m)
    }

    fn resource_logs<'a>(&self, mut buf: &'a [u8]) -> Option<ResourceLogsView<'a>> {
        let mut rl = ResourceLogsView::default();
        while !buf.is_empty() {
            match key(&mut buf)? {
                (1, wire) if rl.resource.is_none() => {
                    want(wire, WireType::LengthDelimited)?;
                    let bytes = delimited(&mut buf)?;
                    rl.resource = Some(self.decoded(bytes, |r: &Resource| &r.attributes)?);
                }
                // A second resource would be merged into the first by prost.
                (1, _) => return None,
                (2, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    rl.scope_logs.push(self.scope_logs(delimited(&mut buf)?)?);
                }
                (3, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    rl.schema_url = text(&mut buf)?;
                }
                (_, wire) => skip(wire, &mut buf)?,
            }
        }
        // Pruning would remove an empty resource; that is left to the decoded path.
        (!rl.scope_logs.is_empty()).then_some(rl)
    }

    fn scope_logs<'a>(&self, mut buf: &'a [u8]) -> Option<ScopeLogsView<'a>> {
        let mut sl = ScopeLogsView {
            log_records: Vec::with_capacity(count_field(buf, 2)),
            ..ScopeLogsView::default()
        };
        while !buf.is_empty() {
            match key(&mut buf)? {
                (1, wire) if sl.scope.is_none() => {
                    want(wire, WireType::LengthDelimited)?;
                    let bytes = delimited(&mut buf)?;
                    sl.scope = Some(self.decoded(bytes, |s: &InstrumentationScope| &s.attributes)?);
                }
                (1, _) => return None,
                (2, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    sl.log_records.push(self.record(delimited(&mut buf)?)?);
                }
                (3, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    sl.schema_url = text(&mut buf)?;
                }
                (_, wire) => skip(wire, &mut buf)?,
            }
        }
        (!sl.log_records.is_empty()).then_some(sl)
    }

    fn record<'a>(&self, mut buf: &'a [u8]) -> Option<RecordView<'a>> {
        use WireType::{LengthDelimited as Len, SixtyFourBit, ThirtyTwoBit, Varint};
        let mut r = RecordView {
            // Sized for Codex's records (up to 20 attributes) without growing.
            attributes: Vec::with_capacity(20),
            ..RecordView::default()
        };
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            match tag {
                1 => {
                    want(wire, SixtyFourBit)?;
                    r.time_unix_nano = u64::from_le_bytes(fixed(&mut buf)?);
                }
                2 => {
                    want(wire, Varint)?;
                    r.severity_number = varint(&mut buf)? as i32;
                }
                3 => {
                    want(wire, Len)?;
                    r.severity_text = text(&mut buf)?;
                }
                5 if r.body.is_none() => {
                    want(wire, Len)?;
                    r.body = Some(self.value(delimited(&mut buf)?, 0)?);
                }
                6 => {
                    want(wire, Len)?;
                    let bytes = delimited(&mut buf)?;
                    // Built in place: the common attribute without a call.
                    match self.string_kv(bytes) {
                        Some(kv) => r.attributes.push(kv),
                        None => r.attributes.push(self.general_kv(bytes, 0)?),
                    }
                }
                7 => {
                    want(wire, Varint)?;
                    r.dropped_attributes_count = varint(&mut buf)? as u32;
                }
                8 => {
                    want(wire, ThirtyTwoBit)?;
                    r.flags = u32::from_le_bytes(fixed(&mut buf)?);
                }
                9 => {
                    want(wire, Len)?;
                    r.trace_id = delimited(&mut buf)?;
                }
                10 => {
                    want(wire, Len)?;
                    r.span_id = delimited(&mut buf)?;
                }
                11 => {
                    want(wire, SixtyFourBit)?;
                    r.observed_time_unix_nano = u64::from_le_bytes(fixed(&mut buf)?);
                }
                12 => {
                    want(wire, Len)?;
                    r.event_name = text(&mut buf)?;
                }
                // A second body would be merged into the first by prost.
                5 => return None,
                _ => skip(wire, &mut buf)?,
            }
        }
        let ids_ok = matches!(r.trace_id.len(), 0 | 16) && matches!(r.span_id.len(), 0 | 8);
        (ids_ok && r.attributes.len() <= self.limits.max_attributes).then_some(r)
    }

    fn kv<'a>(&self, buf: &'a [u8], depth: usize) -> Option<KvView<'a>> {
        if let Some(kv) = self.string_kv(buf) {
            return Some(kv);
        }
        self.general_kv(buf, depth)
    }

    /// [`Self::kv`] for any encoding.
    #[inline(never)]
    fn general_kv<'a>(&self, mut buf: &'a [u8], depth: usize) -> Option<KvView<'a>> {
        let mut kv = KvView::default();
        while !buf.is_empty() {
            match key(&mut buf)? {
                (1, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    kv.key = text(&mut buf)?;
                }
                (2, wire) if kv.value.is_none() => {
                    want(wire, WireType::LengthDelimited)?;
                    kv.value = Some(self.value(delimited(&mut buf)?, depth)?);
                }
                (2, _) => return None,
                (3, wire) => {
                    want(wire, WireType::Varint)?;
                    kv.key_strindex = varint(&mut buf)? as i32;
                }
                (_, wire) => skip(wire, &mut buf)?,
            }
        }
        Some(kv)
    }

    /// The common attributes, read without the general loop: a key shorter than 128 bytes
    /// and a string value shorter than 126 bytes or a boolean, encoded as prost encodes them
    /// (`0a klen key 12 vlen 0a slen str`, `0a klen key 12 02 10 <0|1>`). `None` for any
    /// other shape (then read in general), or invalid UTF-8.
    #[inline(always)]
    fn string_kv<'a>(&self, buf: &'a [u8]) -> Option<KvView<'a>> {
        let [0x0a, klen, rest @ ..] = buf else {
            return None;
        };
        let klen = usize::from(*klen);
        if klen == 0 || klen >= 0x80 || rest.len() < klen {
            // prost leaves an empty key out: `0a 00` is not its encoding.
            return None;
        }
        if let [0x12, 0x02, 0x10, b @ (0 | 1)] = rest[klen..] {
            return Some(KvView {
                key: Cow::Borrowed(std::str::from_utf8(&rest[..klen]).ok()?),
                value: Some(ValueView {
                    value: Some(Val::Bool(b == 1)),
                }),
                key_strindex: 0,
                raw: buf,
            });
        }
        let [0x12, vlen, 0x0a, slen, s @ ..] = &rest[klen..] else {
            return None;
        };
        if *vlen >= 0x80
            || usize::from(*vlen) != usize::from(*slen) + 2
            || s.len() != usize::from(*slen)
        {
            return None;
        }
        if s.len() > self.limits.max_string {
            return None;
        }
        // Key, the four ASCII bytes between and the string, validated at once: ASCII bytes
        // cannot be part of a multi-byte character, so the whole is UTF-8 exactly when the key
        // and the string are, and both end at character boundaries.
        let text = std::str::from_utf8(&buf[2..]).ok()?;
        Some(KvView {
            key: Cow::Borrowed(text.get(..klen)?),
            value: Some(ValueView::string(text.get(klen + 4..)?)),
            key_strindex: 0,
            raw: buf,
        })
    }

    /// An `AnyValue` at `depth` (the number of containers around it).
    fn value<'a>(&self, mut buf: &'a [u8], depth: usize) -> Option<ValueView<'a>> {
        use WireType::{LengthDelimited as Len, SixtyFourBit, Varint};
        let mut v = ValueView::default();
        while !buf.is_empty() {
            let (tag, wire) = key(&mut buf)?;
            if (1..=8).contains(&tag) && v.value.is_some() {
                // prost would replace or merge the one-of; left to the decoded path.
                return None;
            }
            v.value = Some(match tag {
                1 => {
                    want(wire, Len)?;
                    let s = text(&mut buf)?;
                    (s.len() <= self.limits.max_string).then_some(Val::String(s))?
                }
                2 => {
                    want(wire, Varint)?;
                    Val::Bool(varint(&mut buf)? != 0)
                }
                3 => {
                    want(wire, Varint)?;
                    Val::Int(varint(&mut buf)? as i64)
                }
                4 => {
                    want(wire, SixtyFourBit)?;
                    Val::Double(f64::from_le_bytes(fixed(&mut buf)?))
                }
                5 | 6 if depth >= self.max_container_depth => return None,
                5 => {
                    want(wire, Len)?;
                    Val::Array(self.list(delimited(&mut buf)?, |b| self.value(b, depth + 1))?)
                }
                6 => {
                    want(wire, Len)?;
                    Val::Kvlist(self.list(delimited(&mut buf)?, |b| self.kv(b, depth + 1))?)
                }
                7 => {
                    want(wire, Len)?;
                    Val::Bytes(delimited(&mut buf)?)
                }
                8 => {
                    want(wire, Varint)?;
                    Val::Strindex(varint(&mut buf)? as i32)
                }
                _ => {
                    skip(wire, &mut buf)?;
                    continue;
                }
            });
        }
        Some(v)
    }

    /// The repeated field 1 of an `ArrayValue` or `KeyValueList`.
    fn list<'a, T>(
        &self,
        mut buf: &'a [u8],
        item: impl Fn(&'a [u8]) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            match key(&mut buf)? {
                (1, wire) => {
                    want(wire, WireType::LengthDelimited)?;
                    out.push(item(delimited(&mut buf)?)?);
                }
                (_, wire) => skip(wire, &mut buf)?,
            }
        }
        Some(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing, as prost does: fields in tag order, implicit-presence defaults left out.

/// A varint, as prost writes it (one byte for values under 128, the common case here).
#[inline]
fn encode_varint(mut v: u64, buf: &mut Vec<u8>) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A field key for tags under 16 (every field of the messages written here).
#[inline]
fn encode_key(tag: u32, wire: WireType, buf: &mut Vec<u8>) {
    buf.push(((tag << 3) | wire as u32) as u8);
}

/// Bytes of a length-delimited field (one-byte key) holding `len` bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn str_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

fn put_delimited(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn put_str(tag: u32, s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        put_delimited(tag, s.as_bytes(), buf);
    }
}

fn put_header(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// An int32 on the wire: sign-extended to 64 bits.
fn int32_bits(i: i32) -> u64 {
    i64::from(i) as u64
}

impl ValueView<'_> {
    fn encoded_len(&self) -> usize {
        match &self.value {
            None => 0,
            Some(Val::String(s)) => field_len(s.len()),
            Some(Val::Bool(_)) => 2,
            Some(Val::Int(i)) => 1 + encoded_len_varint(*i as u64),
            Some(Val::Double(_)) => 9,
            Some(Val::Array(a)) => field_len(a.iter().map(|v| field_len(v.encoded_len())).sum()),
            Some(Val::Kvlist(l)) => field_len(l.iter().map(|kv| field_len(kv.encoded_len())).sum()),
            Some(Val::Bytes(b)) => field_len(b.len()),
            Some(Val::Strindex(i)) => 1 + encoded_len_varint(int32_bits(*i)),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        match &self.value {
            None => {}
            Some(Val::String(s)) => put_delimited(1, s.as_bytes(), buf),
            Some(Val::Bool(b)) => {
                encode_key(2, WireType::Varint, buf);
                encode_varint(u64::from(*b), buf);
            }
            Some(Val::Int(i)) => {
                encode_key(3, WireType::Varint, buf);
                encode_varint(*i as u64, buf);
            }
            Some(Val::Double(d)) => {
                encode_key(4, WireType::SixtyFourBit, buf);
                buf.extend_from_slice(&d.to_le_bytes());
            }
            Some(Val::Array(a)) => {
                put_header(5, a.iter().map(|v| field_len(v.encoded_len())).sum(), buf);
                for v in a {
                    put_header(1, v.encoded_len(), buf);
                    v.write(buf);
                }
            }
            Some(Val::Kvlist(l)) => {
                put_header(6, l.iter().map(|kv| field_len(kv.encoded_len())).sum(), buf);
                for kv in l {
                    put_header(1, kv.encoded_len(), buf);
                    kv.write(buf);
                }
            }
            Some(Val::Bytes(b)) => put_delimited(7, b, buf),
            Some(Val::Strindex(i)) => {
                encode_key(8, WireType::Varint, buf);
                encode_varint(int32_bits(*i), buf);
            }
        }
    }
}

impl KvView<'_> {
    fn encoded_len(&self) -> usize {
        if let Some(raw) = self.pristine() {
            return raw.len();
        }
        str_len(&self.key)
            + self
                .value
                .as_ref()
                .map_or(0, |v| field_len(v.encoded_len()))
            + match self.key_strindex {
                0 => 0,
                i => 1 + encoded_len_varint(int32_bits(i)),
            }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        if let Some(raw) = self.pristine() {
            buf.extend_from_slice(raw);
            return;
        }
        put_str(1, &self.key, buf);
        if let Some(v) = &self.value {
            put_header(2, v.encoded_len(), buf);
            v.write(buf);
        }
        if self.key_strindex != 0 {
            encode_key(3, WireType::Varint, buf);
            encode_varint(int32_bits(self.key_strindex), buf);
        }
    }
}

impl RecordView<'_> {
    fn encoded_len(&self) -> usize {
        let fixed64 = |v: u64| if v == 0 { 0 } else { 9 };
        let bytes = |b: &[u8]| if b.is_empty() { 0 } else { field_len(b.len()) };
        fixed64(self.time_unix_nano)
            + match self.severity_number {
                0 => 0,
                n => 1 + encoded_len_varint(int32_bits(n)),
            }
            + str_len(&self.severity_text)
            + self.body.as_ref().map_or(0, |b| field_len(b.encoded_len()))
            + self
                .attributes
                .iter()
                .map(|kv| field_len(kv.encoded_len()))
                .sum::<usize>()
            + match self.dropped_attributes_count {
                0 => 0,
                n => 1 + encoded_len_varint(u64::from(n)),
            }
            + if self.flags == 0 { 0 } else { 5 }
            + bytes(self.trace_id)
            + bytes(self.span_id)
            + fixed64(self.observed_time_unix_nano)
            + str_len(&self.event_name)
    }

    fn write(&self, buf: &mut Vec<u8>) {
        if self.time_unix_nano != 0 {
            encode_key(1, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&self.time_unix_nano.to_le_bytes());
        }
        if self.severity_number != 0 {
            encode_key(2, WireType::Varint, buf);
            encode_varint(int32_bits(self.severity_number), buf);
        }
        put_str(3, &self.severity_text, buf);
        if let Some(b) = &self.body {
            put_header(5, b.encoded_len(), buf);
            b.write(buf);
        }
        for kv in &self.attributes {
            put_header(6, kv.encoded_len(), buf);
            kv.write(buf);
        }
        if self.dropped_attributes_count != 0 {
            encode_key(7, WireType::Varint, buf);
            encode_varint(u64::from(self.dropped_attributes_count), buf);
        }
        if self.flags != 0 {
            encode_key(8, WireType::ThirtyTwoBit, buf);
            buf.extend_from_slice(&self.flags.to_le_bytes());
        }
        if !self.trace_id.is_empty() {
            put_delimited(9, self.trace_id, buf);
        }
        if !self.span_id.is_empty() {
            put_delimited(10, self.span_id, buf);
        }
        if self.observed_time_unix_nano != 0 {
            encode_key(11, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&self.observed_time_unix_nano.to_le_bytes());
        }
        put_str(12, &self.event_name, buf);
    }
}

impl ScopeLogsView<'_> {
    /// Its encoded length, with each record's (written in the same order by `write`).
    fn encoded_len(&self, records: &mut Vec<usize>) -> usize {
        let mut len = self
            .scope
            .as_ref()
            .map_or(0, |s| field_len(s.encoded_len()));
        for r in &self.log_records {
            let l = r.encoded_len();
            records.push(l);
            len += field_len(l);
        }
        len + str_len(&self.schema_url)
    }

    fn write(&self, records: &mut std::slice::Iter<'_, usize>, buf: &mut Vec<u8>) {
        if let Some(s) = &self.scope {
            put_header(1, s.encoded_len(), buf);
            s.encode_raw(buf);
        }
        for r in &self.log_records {
            put_header(2, records.next().copied().unwrap_or(0), buf);
            r.write(buf);
        }
        put_str(3, &self.schema_url, buf);
    }
}

impl LogsView<'_> {
    /// The protobuf encoding of the request: the bytes prost writes for [`Self::to_request`].
    pub fn encode_to_vec(&self) -> Vec<u8> {
        // Lengths first, records' and scopes' kept so that each is computed once.
        let mut records = Vec::with_capacity(self.item_count());
        let mut scopes = Vec::new();
        let mut resources = Vec::with_capacity(self.resource_logs.len());
        for rl in &self.resource_logs {
            let mut len = rl
                .resource
                .as_ref()
                .map_or(0, |r| field_len(r.encoded_len()));
            for sl in &rl.scope_logs {
                let l = sl.encoded_len(&mut records);
                scopes.push(l);
                len += field_len(l);
            }
            resources.push(len + str_len(&rl.schema_url));
        }
        let total: usize = resources.iter().map(|l| field_len(*l)).sum();
        let mut buf = Vec::with_capacity(total);
        let (mut records, mut scopes) = (records.iter(), scopes.iter());
        for (rl, len) in self.resource_logs.iter().zip(&resources) {
            put_header(1, *len, &mut buf);
            if let Some(r) = &rl.resource {
                put_header(1, r.encoded_len(), &mut buf);
                r.encode_raw(&mut buf);
            }
            for sl in &rl.scope_logs {
                put_header(2, scopes.next().copied().unwrap_or(0), &mut buf);
                sl.write(&mut records, &mut buf);
            }
            put_str(3, &rl.schema_url, &mut buf);
        }
        buf
    }

    /// The decoded request the view stands for.
    pub fn to_request(&self) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: self
                .resource_logs
                .iter()
                .map(|rl| ResourceLogs {
                    resource: rl.resource.clone(),
                    scope_logs: rl
                        .scope_logs
                        .iter()
                        .map(|sl| ScopeLogs {
                            scope: sl.scope.clone(),
                            log_records: sl.log_records.iter().map(RecordView::to_record).collect(),
                            schema_url: sl.schema_url.to_string(),
                        })
                        .collect(),
                    schema_url: rl.schema_url.to_string(),
                })
                .collect(),
        }
    }
}

impl RecordView<'_> {
    /// The decoded `LogRecord`.
    pub fn to_record(&self) -> LogRecord {
        LogRecord {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.observed_time_unix_nano,
            severity_number: self.severity_number,
            severity_text: self.severity_text.to_string(),
            body: self.body.as_ref().map(ValueView::to_any_value),
            attributes: self.attributes.iter().map(KvView::to_key_value).collect(),
            dropped_attributes_count: self.dropped_attributes_count,
            flags: self.flags,
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            event_name: self.event_name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
