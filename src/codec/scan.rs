//! A zero-allocation walk over the protobuf encoding of an OTLP export request: checks that
//! prost would decode it, counts its items (spans, data points, log records) and tells whether
//! the receiver `limits:` or pruning would change it, without building the message.
//!
//! It lets a pass-through pipeline forward a request's own bytes instead of decoding and
//! re-encoding them (the pipeline entry, `crate::pipeline::entry`), lets the entry judge what
//! decoding a request would cost before doing it ([`estimate`]), and lets the load generator's
//! sink count what it receives. The scan is conservative: `Ok` only when prost
//! accepts the bytes and the decoded request would be left as it is; anything it is unsure of
//! (a group, a singular message or oneof seen twice, deep nesting, an odd packed length) is an
//! `Err`, and the caller takes the full decode path, which has the final word.
//!
//! The schema is the `opentelemetry-proto` messages' (field numbers and wire types); unknown
//! fields are skipped like prost skips them.

use processors::Signal;

/// What the receiver `limits:` allow; a request the limits would change fails the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// Attributes per list (resource, scope, span, event, link, log record, metric metadata,
    /// data point, exemplar).
    pub max_attributes: usize,
    /// Bytes of an `AnyValue` string.
    pub max_string: usize,
    /// Arrays / key-value lists enclosing an array or key-value list value.
    pub max_depth: usize,
}

impl ScanLimits {
    /// No limits: only well-formedness is checked.
    pub const NONE: ScanLimits = ScanLimits {
        max_attributes: usize::MAX,
        max_string: usize::MAX,
        max_depth: usize::MAX,
    };
}

/// Why a scan did not vouch for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Not a well-formed encoding of the request (prost would refuse it too, or the scan
    /// could not tell).
    #[error("malformed protobuf")]
    Malformed,
    /// Well-formed as far as the scan goes, but outside what it vouches for.
    #[error("encoding outside the scan's fast path")]
    Unsupported,
    /// The receiver limits would drop, truncate or replace something.
    #[error("over a receiver limit")]
    OverLimit,
}

/// What a successful scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scanned {
    /// Spans, data points or log records.
    pub items: u64,
    /// Whether some resource, scope or metric holds no items (pruning would remove it).
    pub has_empty: bool,
}

/// Scans the protobuf encoding of an `Export*ServiceRequest` of `signal`.
pub fn scan(signal: Signal, buf: &[u8], limits: &ScanLimits) -> Result<Scanned, ScanError> {
    let mut s = Scanner {
        limits: *limits,
        has_empty: false,
        count_only: false,
    };
    let items = s.message(root_of(signal), buf, 0, 0)?;
    Ok(Scanned {
        items,
        has_empty: s.has_empty,
    })
}

/// Counts the items of an export request of `signal` quickly: walks only the messages that
/// lead to items (resources, scopes, metrics) and skips the items and everything else as
/// opaque length-delimited fields, checking neither UTF-8 nor limits. For a sink that trusts
/// its sender, not for validation.
pub fn count(signal: Signal, buf: &[u8]) -> Result<u64, ScanError> {
    let mut s = Scanner {
        limits: ScanLimits::NONE,
        has_empty: false,
        count_only: true,
    };
    s.message(root_of(signal), buf, 0, 0)
}

/// What decoding a request would cost, judged before decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Spans, data points or log records.
    pub items: u64,
    /// An upper estimate of the memory the decoded request takes: the struct of every message
    /// in it, twice for the slack of growing vectors, plus its strings and bytes (at most the
    /// body's length).
    pub decoded_bytes: u64,
}

/// Estimates what decoding the protobuf encoding of a request of `signal` costs, in one
/// zero-allocation walk, so a request that would take too much memory is refused before it is
/// decoded (a tiny body of empty messages decodes to hundreds of times its size).
///
/// The walk follows messages only: strings, limits and the once-only rules are left to the
/// decode that follows, which has the final word. Packed numbers count what their `Vec` holds
/// (up to 8 bytes per byte of a varint).
pub fn estimate(signal: Signal, buf: &[u8]) -> Result<Estimate, ScanError> {
    let mut structs = 0;
    let items = estimate_walk(root_of(signal), buf, 0, &mut structs)?;
    Ok(Estimate {
        items,
        decoded_bytes: structs.saturating_mul(2).saturating_add(buf.len() as u64),
    })
}

/// [`estimate`]'s walk over one message `m`: adds what decoding it allocates to `structs`
/// (struct sizes, and the elements of packed numbers) and returns the items in it.
fn estimate_walk(m: M, buf: &[u8], depth: u32, structs: &mut u64) -> Result<u64, ScanError> {
    if depth > MAX_RECURSION {
        return Err(ScanError::Unsupported);
    }
    *structs += struct_size(m);
    let mut items = 0;
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let tag = u32::try_from(key >> 3).map_err(|_| ScanError::Malformed)?;
        if tag == 0 {
            return Err(ScanError::Malformed);
        }
        match (key & 7) as u8 {
            WIRE_LEN => {
                let body = delimited(buf, &mut pos)?;
                match field(m, tag) {
                    F::Msg(child, role) => {
                        let inner = estimate_walk(child, body, depth + 1, structs)?;
                        items += if role == R::Item { 1 } else { inner };
                    }
                    F::PackedVarint => *structs += 8 * body.len() as u64,
                    F::PackedI64 => *structs += body.len() as u64,
                    _ => {}
                }
            }
            WIRE_VARINT => {
                varint(buf, &mut pos)?;
                if field(m, tag) == F::PackedVarint {
                    *structs += 8;
                }
            }
            WIRE_I64 => {
                skip(buf, &mut pos, 8)?;
                if field(m, tag) == F::PackedI64 {
                    *structs += 8;
                }
            }
            WIRE_I32 => skip(buf, &mut pos, 4)?,
            // Groups: prost skips them; the estimate leaves them to the worst case.
            3 | 4 => return Err(ScanError::Unsupported),
            _ => return Err(ScanError::Malformed),
        }
    }
    Ok(items)
}

/// The most memory a decoded request takes per byte of its encoding, as [`estimate`] counts it:
/// an empty message takes two bytes (tag and length) and twice its struct (a `Span`, the
/// largest, is 264 bytes on 64-bit targets). Assumed for a body that is not scanned.
pub const WORST_AMPLIFICATION: u64 = 300;

/// The size of the prost struct of message `m` (what decoding one instance allocates, besides
/// its strings and vectors' contents).
fn struct_size(m: M) -> u64 {
    use opentelemetry_proto::tonic::{
        collector, common::v1 as common, logs::v1 as logs, metrics::v1 as metrics,
        resource::v1 as resource, trace::v1 as trace,
    };
    use std::mem::size_of;
    (match m {
        M::TraceReq => size_of::<collector::trace::v1::ExportTraceServiceRequest>(),
        M::ResourceSpans => size_of::<trace::ResourceSpans>(),
        M::ScopeSpans => size_of::<trace::ScopeSpans>(),
        M::Span => size_of::<trace::Span>(),
        M::Event => size_of::<trace::span::Event>(),
        M::Link => size_of::<trace::span::Link>(),
        M::Status => size_of::<trace::Status>(),
        M::LogsReq => size_of::<collector::logs::v1::ExportLogsServiceRequest>(),
        M::ResourceLogs => size_of::<logs::ResourceLogs>(),
        M::ScopeLogs => size_of::<logs::ScopeLogs>(),
        M::LogRecord => size_of::<logs::LogRecord>(),
        M::MetricsReq => size_of::<collector::metrics::v1::ExportMetricsServiceRequest>(),
        M::ResourceMetrics => size_of::<metrics::ResourceMetrics>(),
        M::ScopeMetrics => size_of::<metrics::ScopeMetrics>(),
        M::Metric => size_of::<metrics::Metric>(),
        M::Gauge => size_of::<metrics::Gauge>(),
        M::Sum => size_of::<metrics::Sum>(),
        M::Histogram => size_of::<metrics::Histogram>(),
        M::ExpHistogram => size_of::<metrics::ExponentialHistogram>(),
        M::Summary => size_of::<metrics::Summary>(),
        M::NumberDp => size_of::<metrics::NumberDataPoint>(),
        M::HistogramDp => size_of::<metrics::HistogramDataPoint>(),
        M::ExpHistogramDp => size_of::<metrics::ExponentialHistogramDataPoint>(),
        M::Buckets => size_of::<metrics::exponential_histogram_data_point::Buckets>(),
        M::SummaryDp => size_of::<metrics::SummaryDataPoint>(),
        M::Quantile => size_of::<metrics::summary_data_point::ValueAtQuantile>(),
        M::Exemplar => size_of::<metrics::Exemplar>(),
        M::Resource => size_of::<resource::Resource>(),
        M::Scope => size_of::<common::InstrumentationScope>(),
        M::EntityRef => size_of::<common::EntityRef>(),
        M::KeyValue => size_of::<common::KeyValue>(),
        M::AnyValue => size_of::<common::AnyValue>(),
        M::ArrayValue => size_of::<common::ArrayValue>(),
        M::KvList => size_of::<common::KeyValueList>(),
    }) as u64
}

fn root_of(signal: Signal) -> M {
    match signal {
        Signal::Traces => M::TraceReq,
        Signal::Metrics => M::MetricsReq,
        Signal::Logs => M::LogsReq,
    }
}

/// Message nesting the scan follows (prost allows 100).
const MAX_RECURSION: u32 = 64;

/// The messages of the three export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    TraceReq,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    LogsReq,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    MetricsReq,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExpHistogram,
    Summary,
    NumberDp,
    HistogramDp,
    ExpHistogramDp,
    Buckets,
    SummaryDp,
    Quantile,
    Exemplar,
    Resource,
    Scope,
    EntityRef,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
}

/// How a message field is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    /// Repeated; its items add up into the parent's.
    Repeated,
    /// Not repeated: a second occurrence would be merged by prost, which the scan does not
    /// follow.
    Singular,
    /// One attribute of the parent's list (counted against `max_attributes`).
    Attr,
    /// One item (span, data point, log record).
    Item,
    /// The array / key-value list of an `AnyValue` (one nesting level deeper).
    Container,
}

/// A field's type, as far as the scan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Varint,
    I64,
    I32,
    Bytes,
    /// A trace id (16 bytes) or span id (8 bytes), or empty: any other length is left to the
    /// decoding path, which refuses it.
    Id(usize),
    Str,
    /// `AnyValue.string_value`: UTF-8 and `max_string`.
    AnyStr,
    /// Repeated fixed64 / double: packed or not.
    PackedI64,
    /// Repeated uint64: packed or not.
    PackedVarint,
    Msg(M, R),
    Unknown,
}

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// The schema: field `tag` of message `m`.
#[inline]
fn field(m: M, tag: u32) -> F {
    match m {
        M::TraceReq
        | M::ResourceSpans
        | M::ScopeSpans
        | M::LogsReq
        | M::ResourceLogs
        | M::ScopeLogs
        | M::MetricsReq
        | M::ResourceMetrics
        | M::ScopeMetrics => envelope_field(m, tag),
        M::Span | M::Event | M::Link | M::Status => span_field(m, tag),
        M::LogRecord => log_record_field(tag),
        M::Metric | M::Gauge | M::Sum | M::Histogram | M::ExpHistogram | M::Summary => {
            metric_field(m, tag)
        }
        M::NumberDp
        | M::HistogramDp
        | M::ExpHistogramDp
        | M::Buckets
        | M::SummaryDp
        | M::Quantile
        | M::Exemplar => point_field(m, tag),
        M::Resource
        | M::Scope
        | M::EntityRef
        | M::KeyValue
        | M::AnyValue
        | M::ArrayValue
        | M::KvList => common_field(m, tag),
    }
}

/// Fields of the requests and of their resource and scope wrappers.
#[inline]
fn envelope_field(m: M, tag: u32) -> F {
    use F::*;
    match (m, tag) {
        (M::TraceReq, 1) => Msg(M::ResourceSpans, R::Repeated),
        (M::LogsReq, 1) => Msg(M::ResourceLogs, R::Repeated),
        (M::MetricsReq, 1) => Msg(M::ResourceMetrics, R::Repeated),
        (M::ResourceSpans, 1) | (M::ResourceLogs, 1) | (M::ResourceMetrics, 1) => {
            Msg(M::Resource, R::Singular)
        }
        (M::ResourceSpans, 2) => Msg(M::ScopeSpans, R::Repeated),
        (M::ResourceLogs, 2) => Msg(M::ScopeLogs, R::Repeated),
        (M::ResourceMetrics, 2) => Msg(M::ScopeMetrics, R::Repeated),
        (M::ScopeSpans, 1) | (M::ScopeLogs, 1) | (M::ScopeMetrics, 1) => Msg(M::Scope, R::Singular),
        (M::ScopeSpans, 2) => Msg(M::Span, R::Item),
        (M::ScopeLogs, 2) => Msg(M::LogRecord, R::Item),
        (M::ScopeMetrics, 2) => Msg(M::Metric, R::Repeated),
        (M::ResourceSpans | M::ResourceLogs | M::ResourceMetrics, 3)
        | (M::ScopeSpans | M::ScopeLogs | M::ScopeMetrics, 3) => Str,
        _ => Unknown,
    }
}

/// Fields of a span and of its events, links and status.
#[inline]
fn span_field(m: M, tag: u32) -> F {
    use F::*;
    match (m, tag) {
        (M::Span, 1) => Id(16),
        (M::Span, 2 | 4) => Id(8),
        (M::Span, 3 | 5) => Str,
        (M::Span, 16) => I32,
        (M::Span, 6 | 10 | 12 | 14) => Varint,
        (M::Span, 7 | 8) => I64,
        (M::Span, 9) => Msg(M::KeyValue, R::Attr),
        (M::Span, 11) => Msg(M::Event, R::Repeated),
        (M::Span, 13) => Msg(M::Link, R::Repeated),
        (M::Span, 15) => Msg(M::Status, R::Singular),
        (M::Event, 1) => I64,
        (M::Event, 2) => Str,
        (M::Event, 3) => Msg(M::KeyValue, R::Attr),
        (M::Event, 4) => Varint,
        (M::Link, 1) => Id(16),
        (M::Link, 2) => Id(8),
        (M::Link, 3) => Str,
        (M::Link, 4) => Msg(M::KeyValue, R::Attr),
        (M::Link, 5) => Varint,
        (M::Link, 6) => I32,
        (M::Status, 2) => Str,
        (M::Status, 3) => Varint,
        _ => Unknown,
    }
}

/// Fields of a log record.
#[inline]
fn log_record_field(tag: u32) -> F {
    use F::*;
    match tag {
        1 | 11 => I64,
        2 | 7 => Varint,
        3 | 12 => Str,
        5 => Msg(M::AnyValue, R::Singular),
        6 => Msg(M::KeyValue, R::Attr),
        8 => I32,
        9 => Id(16),
        10 => Id(8),
        _ => Unknown,
    }
}

/// Fields of a metric and of its data kinds (gauge, sum, histograms, summary).
#[inline]
fn metric_field(m: M, tag: u32) -> F {
    use F::*;
    match (m, tag) {
        (M::Metric, 1..=3) => Str,
        (M::Metric, 12) => Msg(M::KeyValue, R::Attr),
        (M::Metric, 5) => Msg(M::Gauge, R::Repeated),
        (M::Metric, 7) => Msg(M::Sum, R::Repeated),
        (M::Metric, 9) => Msg(M::Histogram, R::Repeated),
        (M::Metric, 10) => Msg(M::ExpHistogram, R::Repeated),
        (M::Metric, 11) => Msg(M::Summary, R::Repeated),
        (M::Gauge | M::Sum, 1) => Msg(M::NumberDp, R::Item),
        (M::Sum, 2 | 3) => Varint,
        (M::Histogram, 1) => Msg(M::HistogramDp, R::Item),
        (M::ExpHistogram, 1) => Msg(M::ExpHistogramDp, R::Item),
        (M::Histogram | M::ExpHistogram, 2) => Varint,
        (M::Summary, 1) => Msg(M::SummaryDp, R::Item),
        _ => Unknown,
    }
}

/// Fields of the data points and of their buckets, quantiles and exemplars.
#[inline]
fn point_field(m: M, tag: u32) -> F {
    use F::*;
    match (m, tag) {
        (M::NumberDp, 7) => Msg(M::KeyValue, R::Attr),
        (M::NumberDp, 2 | 3 | 4 | 6) => I64,
        (M::NumberDp, 5) => Msg(M::Exemplar, R::Repeated),
        (M::NumberDp, 8) => Varint,
        (M::HistogramDp, 9) => Msg(M::KeyValue, R::Attr),
        (M::HistogramDp, 2..=5 | 11 | 12) => I64,
        (M::HistogramDp, 6 | 7) => PackedI64,
        (M::HistogramDp, 8) => Msg(M::Exemplar, R::Repeated),
        (M::HistogramDp, 10) => Varint,
        (M::ExpHistogramDp, 1) => Msg(M::KeyValue, R::Attr),
        (M::ExpHistogramDp, 2..=5 | 7 | 12..=14) => I64,
        (M::ExpHistogramDp, 6 | 10) => Varint,
        (M::ExpHistogramDp, 8 | 9) => Msg(M::Buckets, R::Singular),
        (M::ExpHistogramDp, 11) => Msg(M::Exemplar, R::Repeated),
        (M::Buckets, 1) => Varint,
        (M::Buckets, 2) => PackedVarint,
        (M::SummaryDp, 7) => Msg(M::KeyValue, R::Attr),
        (M::SummaryDp, 2..=5) => I64,
        (M::SummaryDp, 6) => Msg(M::Quantile, R::Repeated),
        (M::SummaryDp, 8) => Varint,
        (M::Quantile, 1 | 2) => I64,
        (M::Exemplar, 7) => Msg(M::KeyValue, R::Attr),
        (M::Exemplar, 2 | 3 | 6) => I64,
        (M::Exemplar, 4) => Id(8),
        (M::Exemplar, 5) => Id(16),
        _ => Unknown,
    }
}

/// Fields of the messages every signal shares: resource, scope, attributes and values.
#[inline]
fn common_field(m: M, tag: u32) -> F {
    use F::*;
    match (m, tag) {
        (M::Resource, 1) => Msg(M::KeyValue, R::Attr),
        (M::Resource, 2) => Varint,
        (M::Resource, 3) => Msg(M::EntityRef, R::Repeated),
        (M::EntityRef, 1..=4) => Str,
        (M::Scope, 1 | 2) => Str,
        (M::Scope, 3) => Msg(M::KeyValue, R::Attr),
        (M::Scope, 4) => Varint,
        (M::KeyValue, 1) => Str,
        (M::KeyValue, 2) => Msg(M::AnyValue, R::Singular),
        (M::KeyValue, 3) => Varint,
        (M::AnyValue, 1) => AnyStr,
        (M::AnyValue, 2 | 3 | 8) => Varint,
        (M::AnyValue, 4) => I64,
        (M::AnyValue, 5) => Msg(M::ArrayValue, R::Container),
        (M::AnyValue, 6) => Msg(M::KvList, R::Container),
        (M::AnyValue, 7) => Bytes,
        (M::ArrayValue, 1) => Msg(M::AnyValue, R::Repeated),
        (M::KvList, 1) => Msg(M::KeyValue, R::Repeated),
        _ => Unknown,
    }
}

/// Whether field `tag` of `m` is in the oneof the scan tracks (a second member would replace
/// the first, so the scan refuses it): `AnyValue.value` and `Metric.data`.
fn in_oneof(m: M, tag: u32) -> bool {
    match m {
        M::AnyValue => (1..=8).contains(&tag),
        M::Metric => matches!(tag, 5 | 7 | 9 | 10 | 11),
        _ => false,
    }
}

/// Whether pruning removes an instance of `m` that holds no items.
fn prunable(m: M) -> bool {
    matches!(
        m,
        M::ResourceSpans
            | M::ScopeSpans
            | M::ResourceLogs
            | M::ScopeLogs
            | M::ResourceMetrics
            | M::ScopeMetrics
            | M::Metric
    )
}

/// Whether a message leads to items (the only ones [`count`] descends into).
fn leads_to_items(m: M) -> bool {
    prunable(m)
        || matches!(
            m,
            M::Gauge | M::Sum | M::Histogram | M::ExpHistogram | M::Summary
        )
}

struct Scanner {
    limits: ScanLimits,
    has_empty: bool,
    /// [`count`]: skip what does not lead to items, check nothing.
    count_only: bool,
}

/// Reads a varint at `*pos` like prost (at most 10 bytes, the 10th at most 1).
#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ScanError> {
    // Keys and short lengths: one byte.
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(u64::from(b));
        }
    }
    varint_long(buf, pos)
}

/// [`varint`] of two bytes or more.
#[inline(never)]
fn varint_long(buf: &[u8], pos: &mut usize) -> Result<u64, ScanError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err(ScanError::Malformed);
        };
        *pos += 1;
        if i == 9 && b > 1 {
            return Err(ScanError::Malformed);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(ScanError::Malformed)
}

/// Advances `*pos` by `n` bytes, which must be there.
#[inline]
fn skip(buf: &[u8], pos: &mut usize, n: usize) -> Result<(), ScanError> {
    match pos.checked_add(n) {
        Some(end) if end <= buf.len() => {
            *pos = end;
            Ok(())
        }
        _ => Err(ScanError::Malformed),
    }
}

/// The length-delimited payload at `*pos`.
#[inline]
fn delimited<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], ScanError> {
    let len = usize::try_from(varint(buf, pos)?).map_err(|_| ScanError::Malformed)?;
    let start = *pos;
    skip(buf, pos, len)?;
    Ok(&buf[start..*pos])
}

#[inline]
fn expect(wire: u8, want: u8) -> Result<(), ScanError> {
    if wire == want {
        Ok(())
    } else {
        Err(ScanError::Malformed)
    }
}

/// What one message scanned so far holds.
struct Frame {
    depth: u32,
    /// Arrays / key-value lists enclosing the message.
    any_depth: usize,
    items: u64,
    attrs: usize,
    /// Bit `tag`: singular message fields seen; bit 0: the tracked oneof.
    seen: u32,
}

impl Frame {
    /// Marks bit `bit` of `seen`; `Unsupported` when it was already set (prost would merge or
    /// replace, which the scan does not follow).
    #[inline]
    fn once(&mut self, bit: u32) -> Result<(), ScanError> {
        if self.seen & bit != 0 {
            return Err(ScanError::Unsupported);
        }
        self.seen |= bit;
        Ok(())
    }
}

impl Scanner {
    /// Scans one message of type `m`; returns the items in it. `depth`: message nesting;
    /// `any_depth`: arrays / key-value lists enclosing it.
    fn message(
        &mut self,
        m: M,
        buf: &[u8],
        depth: u32,
        any_depth: usize,
    ) -> Result<u64, ScanError> {
        if depth > MAX_RECURSION {
            return Err(ScanError::Unsupported);
        }
        let mut frame = Frame {
            depth,
            any_depth,
            items: 0,
            attrs: 0,
            seen: 0,
        };
        let mut pos = 0;
        while pos < buf.len() {
            let key = varint(buf, &mut pos)?;
            let tag = u32::try_from(key >> 3).map_err(|_| ScanError::Malformed)?;
            let wire = (key & 7) as u8;
            if tag == 0 {
                return Err(ScanError::Malformed);
            }
            if in_oneof(m, tag) {
                frame.once(1)?;
            }
            match field(m, tag) {
                f @ (F::Str | F::AnyStr) => {
                    expect(wire, WIRE_LEN)?;
                    let s = delimited(buf, &mut pos)?;
                    self.string(s, f == F::AnyStr)?;
                }
                F::Msg(child, role) => {
                    expect(wire, WIRE_LEN)?;
                    let body = delimited(buf, &mut pos)?;
                    self.child(&mut frame, tag, child, role, body)?;
                }
                f => skip_field(f, wire, buf, &mut pos)?,
            }
        }
        if frame.attrs > self.limits.max_attributes {
            return Err(ScanError::OverLimit);
        }
        if frame.items == 0 && prunable(m) {
            self.has_empty = true;
        }
        Ok(frame.items)
    }

    /// Checks a string field: UTF-8, and `max_string` for an `AnyValue` string.
    #[inline]
    fn string(&self, s: &[u8], any_value: bool) -> Result<(), ScanError> {
        if self.count_only {
            return Ok(());
        }
        if std::str::from_utf8(s).is_err() {
            return Err(ScanError::Malformed);
        }
        if any_value && s.len() > self.limits.max_string {
            return Err(ScanError::OverLimit);
        }
        Ok(())
    }

    /// Scans the message field `tag` (a `child` in `role`) of the message in `frame`, and adds
    /// what it holds to the frame.
    #[inline]
    fn child(
        &mut self,
        frame: &mut Frame,
        tag: u32,
        child: M,
        role: R,
        body: &[u8],
    ) -> Result<(), ScanError> {
        if self.count_only && !leads_to_items(child) {
            frame.items += u64::from(role == R::Item);
            return Ok(());
        }
        let mut child_any_depth = frame.any_depth;
        match role {
            R::Repeated => {}
            R::Singular => frame.once(1u32 << (tag & 31))?,
            R::Attr => frame.attrs += 1,
            R::Item => frame.items += 1,
            R::Container => {
                if frame.any_depth >= self.limits.max_depth {
                    return Err(ScanError::OverLimit);
                }
                child_any_depth += 1;
            }
        }
        let inner = self.message(child, body, frame.depth + 1, child_any_depth)?;
        if role != R::Item {
            frame.items += inner;
        }
        Ok(())
    }
}

/// Skips a field that is neither a string nor a message (`f`: its schema type, `wire`: its
/// wire type), checking that it is well-formed.
#[inline]
fn skip_field(f: F, wire: u8, buf: &[u8], pos: &mut usize) -> Result<(), ScanError> {
    match f {
        F::Varint => {
            expect(wire, WIRE_VARINT)?;
            varint(buf, pos)?;
        }
        F::I64 => {
            expect(wire, WIRE_I64)?;
            skip(buf, pos, 8)?;
        }
        F::I32 => {
            expect(wire, WIRE_I32)?;
            skip(buf, pos, 4)?;
        }
        F::Bytes => {
            expect(wire, WIRE_LEN)?;
            delimited(buf, pos)?;
        }
        F::Id(len) => {
            expect(wire, WIRE_LEN)?;
            let id = delimited(buf, pos)?.len();
            if id != 0 && id != len {
                return Err(ScanError::Unsupported);
            }
        }
        F::PackedI64 => match wire {
            WIRE_I64 => skip(buf, pos, 8)?,
            WIRE_LEN => {
                if delimited(buf, pos)?.len() % 8 != 0 {
                    return Err(ScanError::Unsupported);
                }
            }
            _ => return Err(ScanError::Malformed),
        },
        F::PackedVarint => match wire {
            WIRE_VARINT => {
                varint(buf, pos)?;
            }
            WIRE_LEN => {
                let packed = delimited(buf, pos)?;
                let mut p = 0;
                while p < packed.len() {
                    varint(packed, &mut p)?;
                }
            }
            _ => return Err(ScanError::Malformed),
        },
        // Unknown fields are skipped by their wire type, like prost does (strings and messages
        // are read by `Scanner::message` and never come here).
        F::Str | F::AnyStr | F::Msg(..) | F::Unknown => match wire {
            WIRE_VARINT => {
                varint(buf, pos)?;
            }
            WIRE_I64 => skip(buf, pos, 8)?,
            WIRE_LEN => {
                delimited(buf, pos)?;
            }
            WIRE_I32 => skip(buf, pos, 4)?,
            // Groups (3, 4): prost skips them; the scan leaves them to prost.
            3 | 4 => return Err(ScanError::Unsupported),
            _ => return Err(ScanError::Malformed),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::{
        logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
        trace::v1::ExportTraceServiceRequest,
    };
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
    use processors::OtlpRequest;
    use prost::Message;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/tool-secrets-protobuf/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    }

    #[test]
    fn scan_counts_the_same_items_as_a_decode_for_every_fixture_signal() {
        let traces = fixture("001_traces.pb");
        let want = ExportTraceServiceRequest::decode(traces.as_slice())
            .expect("decode")
            .item_count() as u64;
        let got = scan(Signal::Traces, &traces, &ScanLimits::NONE).expect("scan");
        assert_eq!(got.items, want);
        let metrics = fixture("003_metrics.pb");
        let want = ExportMetricsServiceRequest::decode(metrics.as_slice())
            .expect("decode")
            .item_count() as u64;
        assert_eq!(
            scan(Signal::Metrics, &metrics, &ScanLimits::NONE)
                .expect("scan")
                .items,
            want
        );
        let logs = fixture("004_logs.pb");
        let want = ExportLogsServiceRequest::decode(logs.as_slice())
            .expect("decode")
            .item_count() as u64;
        assert_eq!(
            scan(Signal::Logs, &logs, &ScanLimits::NONE)
                .expect("scan")
                .items,
            want
        );
    }

    #[test]
    fn count_agrees_with_scan_on_every_fixture_signal() {
        for (signal, name) in [
            (Signal::Traces, "001_traces.pb"),
            (Signal::Metrics, "003_metrics.pb"),
            (Signal::Logs, "004_logs.pb"),
        ] {
            let body = fixture(name);
            let scanned = scan(signal, &body, &ScanLimits::NONE).expect("scan").items;
            assert_eq!(count(signal, &body), Ok(scanned), "{name}");
            let e = estimate(signal, &body).expect("estimate");
            assert_eq!(e.items, scanned, "{name}");
            // Structs and contents: more than the body, far less than the worst case.
            let ratio = e.decoded_bytes as f64 / body.len() as f64;
            assert!((1.5..30.0).contains(&ratio), "{name}: {ratio}");
        }
    }

    #[test]
    fn the_estimate_counts_what_packed_numbers_decode_to() {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        // resource_metrics { scope_metrics { metrics { histogram { data_points {
        //   bucket_counts: packed fixed64 x 1000 } } } } }, with bucket_counts as fixed64 and an
        // exponential histogram's positive.bucket_counts as 1000 one-byte varints.
        let packed_len = |tag: u8, bytes: &[u8]| {
            let mut out = vec![tag];
            push_len(&mut out, bytes.len());
            out.extend_from_slice(bytes);
            out
        };
        let buckets = packed_len(0x12, &[1u8; 1000]); // Buckets.bucket_counts, packed varints
        let dp = packed_len(0x42, &buckets); // ExponentialHistogramDataPoint.positive
        let hist = packed_len(0x0a, &dp); // ExponentialHistogram.data_points
        let metric = packed_len(0x52, &hist); // Metric.exponential_histogram
        let scope = packed_len(0x12, &metric);
        let resource = packed_len(0x12, &scope);
        let body = packed_len(0x0a, &resource);
        let decoded = ExportMetricsServiceRequest::decode(body.as_slice()).expect("decodes");
        let e = estimate(Signal::Metrics, &body).expect("estimate");
        assert_eq!(e.items, 1);
        let counts = match &decoded.resource_metrics[0].scope_metrics[0].metrics[0].data {
            Some(Data::ExponentialHistogram(h)) => h.data_points[0]
                .positive
                .as_ref()
                .map_or(0, |b| b.bucket_counts.len()),
            other => panic!("{other:?}"),
        };
        assert_eq!(counts, 1000);
        // 1000 u64 in a Vec: 8,000 bytes, more with the growth slack.
        assert!(e.decoded_bytes >= 16_000, "{e:?}");
    }

    #[test]
    fn scan_refuses_every_truncation_of_a_request() {
        let logs = fixture("004_logs.pb");
        for cut in [1, 2, 7, 100, logs.len() / 2, logs.len() - 1] {
            let r = scan(Signal::Logs, &logs[..cut], &ScanLimits::NONE);
            assert!(r.is_err(), "cut at {cut}: {r:?}");
            assert!(ExportLogsServiceRequest::decode(&logs[..cut]).is_err());
        }
    }

    #[test]
    fn scan_refuses_invalid_utf8_and_wrong_wire_types() {
        // resource_spans { scope_spans { spans { name: "\xff" } } }
        let span = [0x2a, 0x01, 0xff];
        let scope = [&[0x12, span.len() as u8][..], &span].concat();
        let rs = [&[0x12, scope.len() as u8][..], &scope].concat();
        let req = [&[0x0a, rs.len() as u8][..], &rs].concat();
        assert_eq!(
            scan(Signal::Traces, &req, &ScanLimits::NONE),
            Err(ScanError::Malformed)
        );
        assert!(ExportTraceServiceRequest::decode(req.as_slice()).is_err());
        // resource_spans as a varint.
        assert_eq!(
            scan(Signal::Traces, &[0x08, 0x01], &ScanLimits::NONE),
            Err(ScanError::Malformed)
        );
    }

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn one_span(attributes: Vec<KeyValue>) -> Vec<u8> {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        name: "s".into(),
                        attributes,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn scan_reports_what_the_receiver_limits_would_change() {
        let limits = ScanLimits {
            max_attributes: 2,
            max_string: 4,
            max_depth: 1,
        };
        let s = |v: &str| any_value::Value::StringValue(v.into());
        let ok = one_span(vec![kv("a", s("1234")), kv("b", s("x"))]);
        assert_eq!(
            scan(Signal::Traces, &ok, &limits),
            Ok(Scanned {
                items: 1,
                has_empty: false
            })
        );
        let many = one_span(vec![kv("a", s("1")), kv("b", s("2")), kv("c", s("3"))]);
        assert_eq!(
            scan(Signal::Traces, &many, &limits),
            Err(ScanError::OverLimit)
        );
        let long = one_span(vec![kv("a", s("12345"))]);
        assert_eq!(
            scan(Signal::Traces, &long, &limits),
            Err(ScanError::OverLimit)
        );
        let array = |values| any_value::Value::ArrayValue(ArrayValue { values });
        let shallow = one_span(vec![kv(
            "a",
            array(vec![AnyValue {
                value: Some(s("x")),
            }]),
        )]);
        assert!(scan(Signal::Traces, &shallow, &limits).is_ok());
        let deep = one_span(vec![kv(
            "a",
            array(vec![AnyValue {
                value: Some(array(vec![])),
            }]),
        )]);
        assert_eq!(
            scan(Signal::Traces, &deep, &limits),
            Err(ScanError::OverLimit)
        );
    }

    #[test]
    fn scan_flags_empty_scopes_and_repeated_singular_fields() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
        let empty = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans::default()],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        assert_eq!(
            scan(Signal::Traces, &empty, &ScanLimits::NONE),
            Ok(Scanned {
                items: 0,
                has_empty: true
            })
        );
        // KeyValue with two values: prost keeps the last, the scan does not vouch.
        let kv = [0x0a, 0x01, b'k', 0x12, 0x00, 0x12, 0x00];
        let span = [&[0x4a, kv.len() as u8][..], &kv].concat();
        let scope = [&[0x12, span.len() as u8][..], &span].concat();
        let rs = [&[0x12, scope.len() as u8][..], &scope].concat();
        let req = [&[0x0a, rs.len() as u8][..], &rs].concat();
        assert!(ExportTraceServiceRequest::decode(req.as_slice()).is_ok());
        assert_eq!(
            scan(Signal::Traces, &req, &ScanLimits::NONE),
            Err(ScanError::Unsupported)
        );
    }

    #[test]
    fn no_message_decodes_to_more_than_the_worst_amplification() {
        // Every message the schema reaches from the three requests.
        let mut all = vec![M::TraceReq, M::MetricsReq, M::LogsReq];
        let mut i = 0;
        while let Some(&m) = all.get(i) {
            for tag in 1..64 {
                if let F::Msg(child, _) = field(m, tag) {
                    if !all.contains(&child) {
                        all.push(child);
                    }
                }
            }
            i += 1;
        }
        assert_eq!(all.len(), 34, "{all:?}");
        for m in all {
            // An empty message: two bytes on the wire, twice its struct in the estimate.
            assert!(2 * struct_size(m) <= 2 * WORST_AMPLIFICATION, "{m:?}");
        }
        // A body of nothing but empty spans comes close to the bound and stays under it.
        let spans = vec![0x12u8, 0]; // ScopeSpans.spans, empty
        let mut scope = Vec::new();
        for _ in 0..1000 {
            scope.extend_from_slice(&spans);
        }
        let mut rs = vec![0x12u8];
        push_len(&mut rs, scope.len());
        rs.extend_from_slice(&scope);
        let mut body = vec![0x0au8];
        push_len(&mut body, rs.len());
        body.extend_from_slice(&rs);
        let e = estimate(Signal::Traces, &body).expect("estimate");
        assert_eq!(e.items, 1000);
        assert!(e.decoded_bytes <= body.len() as u64 * WORST_AMPLIFICATION);
        assert!(e.decoded_bytes > body.len() as u64 * WORST_AMPLIFICATION / 2);
    }

    fn push_len(out: &mut Vec<u8>, mut n: usize) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
}
