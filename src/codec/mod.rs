//! Wire formats shared by receivers and exporters: the processed [`Batch`] every exporter queue
//! holds (encoded at most once per wire format, then shared), the OTLP JSON mapping ([`json`]) and
//! the `google.rpc` messages used in error replies and retry hints ([`rpc`]), and the
//! allocation-free protobuf walk that lets pass-through pipelines forward a request's own bytes
//! ([`scan`]).

pub mod encode;
pub mod ids;
pub mod json;
pub mod rpc;
pub mod scan;

use bytes::Bytes;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use processors::{Batchable, OtlpRequest, Signal};
use prost::Message;
use std::io::Write;
use std::sync::OnceLock;

/// A processed export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
    /// Logs.
    Logs(ExportLogsServiceRequest),
}

impl From<ExportTraceServiceRequest> for Payload {
    fn from(r: ExportTraceServiceRequest) -> Self {
        Payload::Traces(r)
    }
}
impl From<ExportMetricsServiceRequest> for Payload {
    fn from(r: ExportMetricsServiceRequest) -> Self {
        Payload::Metrics(r)
    }
}
impl From<ExportLogsServiceRequest> for Payload {
    fn from(r: ExportLogsServiceRequest) -> Self {
        Payload::Logs(r)
    }
}

impl Payload {
    /// The signal.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    /// Spans, data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Traces(r) => r.item_count(),
            Payload::Metrics(r) => r.item_count(),
            Payload::Logs(r) => r.item_count(),
        }
    }

    /// `service.name` of each resource.
    pub fn service_names(&self) -> Vec<&str> {
        match self {
            Payload::Traces(r) => r.service_names(),
            Payload::Metrics(r) => r.service_names(),
            Payload::Logs(r) => r.service_names(),
        }
    }

    /// Moves the items of `other` (same signal) into `self`; a different signal is ignored
    /// (a pipeline has one signal, so this does not happen).
    pub fn absorb(&mut self, other: Payload) {
        match (self, other) {
            (Payload::Traces(a), Payload::Traces(b)) => a.absorb(b),
            (Payload::Metrics(a), Payload::Metrics(b)) => a.absorb(b),
            (Payload::Logs(a), Payload::Logs(b)) => a.absorb(b),
            _ => {}
        }
    }

    /// Splits into payloads of at most `max` items (0: no split).
    pub fn split(self, max: usize) -> Vec<Payload> {
        match self {
            Payload::Traces(r) => r.split(max).into_iter().map(Payload::from).collect(),
            Payload::Metrics(r) => r.split(max).into_iter().map(Payload::from).collect(),
            Payload::Logs(r) => r.split(max).into_iter().map(Payload::from).collect(),
        }
    }

    /// Length of the protobuf encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Traces(r) => r.encoded_len(),
            Payload::Metrics(r) => r.encoded_len(),
            Payload::Logs(r) => r.encoded_len(),
        }
    }

    /// A request of `signal` without items.
    pub fn empty(signal: Signal) -> Payload {
        match signal {
            Signal::Traces => ExportTraceServiceRequest::default().into(),
            Signal::Metrics => ExportMetricsServiceRequest::default().into(),
            Signal::Logs => ExportLogsServiceRequest::default().into(),
        }
    }

    /// Decodes the protobuf encoding of a request of `signal`.
    pub fn decode_proto(signal: Signal, bytes: Bytes) -> Result<Payload, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => ExportTraceServiceRequest::decode(bytes)?.into(),
            Signal::Metrics => ExportMetricsServiceRequest::decode(bytes)?.into(),
            Signal::Logs => ExportLogsServiceRequest::decode(bytes)?.into(),
        })
    }

    /// Protobuf encoding.
    pub fn encode_proto(&self) -> Vec<u8> {
        match self {
            Payload::Traces(r) => encode::traces(r),
            Payload::Metrics(r) => encode::metrics(r),
            Payload::Logs(r) => encode::logs(r),
        }
    }

    /// OTLP JSON encoding.
    pub fn encode_json(&self) -> Vec<u8> {
        match self {
            Payload::Traces(r) => json::encode_traces(r),
            Payload::Metrics(r) => json::encode_metrics(r),
            Payload::Logs(r) => json::encode_logs(r),
        }
    }
}

/// An OTLP wire format: what a request body arrives in, or an exporter sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Protobuf.
    Proto,
    /// OTLP JSON.
    Json,
}

/// One processed request on its way to the exporters, shared through an `Arc` by every exporter
/// queue it was accepted into. Each encoding is computed at most once, by the first exporter
/// that needs it. A batch made from a request's own protobuf bytes ([`Batch::from_proto`])
/// decodes them only if an exporter asks for the [`Batch::payload`].
#[derive(Debug)]
pub struct Batch {
    signal: Signal,
    payload: OnceLock<Payload>,
    items: usize,
    encoded: [OnceLock<Bytes>; 4],
    size: OnceLock<u64>,
    /// The protobuf encodings of a merged batch's parts, in order ([`Batch::merge`]); empty
    /// otherwise.
    parts: Vec<Bytes>,
}

impl Batch {
    /// Wraps a processed payload.
    pub fn new(payload: Payload) -> Self {
        let items = payload.item_count();
        Batch {
            signal: payload.signal(),
            payload: OnceLock::from(payload),
            items,
            encoded: Default::default(),
            size: OnceLock::new(),
            parts: Vec::new(),
        }
    }

    /// A batch of a request's protobuf encoding, forwarded as it is: `proto` must be a request
    /// of `signal` that prost decodes (checked by [`scan::scan`]) holding `items` items.
    pub fn from_proto(signal: Signal, proto: Bytes, items: usize) -> Self {
        let batch = Batch {
            signal,
            payload: OnceLock::new(),
            items,
            encoded: Default::default(),
            size: OnceLock::from(proto.len() as u64),
            parts: Vec::new(),
        };
        let _ = batch.encoded[0].set(proto);
        batch
    }

    /// One batch of the items of `parts` (all of one signal), for one export: their protobuf
    /// encodings end to end, which is the encoding of one request holding every part's resource
    /// entries in order (a request's only field is repeated). Each part is encoded at most once
    /// (shared with the other exporters of the part) and not copied: [`Batch::proto_parts`]
    /// hands them out as they are. The joined encoding and the content are made only if an
    /// exporter asks for them.
    pub fn merge<'a>(parts: impl Iterator<Item = &'a Batch>) -> Self {
        let (mut signal, mut items) = (Signal::Logs, 0);
        let parts: Vec<Bytes> = parts
            .map(|b| {
                (signal, items) = (b.signal, items + b.items);
                b.encoded(WireFormat::Proto, false).clone()
            })
            .collect();
        Batch {
            signal,
            payload: OnceLock::new(),
            items,
            encoded: Default::default(),
            size: OnceLock::from(parts.iter().map(|p| p.len() as u64).sum::<u64>()),
            parts,
        }
    }

    /// The protobuf encoding as the pieces that make it up, end to end: a merged batch's
    /// parts, or the one encoding of any other batch. For senders that write them without
    /// joining them first.
    pub fn proto_parts(&self) -> &[Bytes] {
        if self.parts.is_empty() {
            std::slice::from_ref(self.encoded(WireFormat::Proto, false))
        } else {
            &self.parts
        }
    }

    /// A batch read back from a persistent queue: its protobuf bytes are already known.
    pub fn with_proto(payload: Payload, proto: Bytes) -> Self {
        let batch = Batch::new(payload);
        let _ = batch.size.set(proto.len() as u64);
        let _ = batch.encoded[0].set(proto);
        batch
    }

    /// Size in bytes of the protobuf encoding (what queue byte bounds count).
    pub fn size_bytes(&self) -> u64 {
        *self.size.get_or_init(|| match self.encoded[0].get() {
            Some(b) => b.len() as u64,
            None => self.payload().encoded_len() as u64,
        })
    }

    /// The content (decoded on first use for a [`Batch::from_proto`] or [`Batch::merge`]
    /// batch).
    pub fn payload(&self) -> &Payload {
        self.payload.get_or_init(|| {
            let proto = if self.parts.is_empty() {
                self.encoded[0].get().cloned().unwrap_or_default()
            } else {
                // Joins the parts (never decodes: a merged batch's encoding is its parts').
                self.encoded(WireFormat::Proto, false).clone()
            };
            // from_proto's caller checked that the bytes decode.
            Payload::decode_proto(self.signal, proto).unwrap_or_else(|e| {
                tracing::error!(error = %e, "forwarded request does not decode");
                Payload::empty(self.signal)
            })
        })
    }

    /// The signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Spans, data points or log records.
    pub fn items(&self) -> usize {
        self.items
    }

    /// The body in `format`, gzip-compressed if asked; computed once and shared.
    pub fn encoded(&self, format: WireFormat, gzip: bool) -> &Bytes {
        let slot = match (format, gzip) {
            (WireFormat::Proto, false) => 0,
            (WireFormat::Json, false) => 1,
            (WireFormat::Proto, true) => 2,
            (WireFormat::Json, true) => 3,
        };
        self.encoded[slot].get_or_init(|| match (format, gzip) {
            (WireFormat::Proto, true) => Bytes::from(gzip_all(self.proto_parts())),
            (WireFormat::Json, true) => Bytes::from(gzip_bytes(self.encoded(format, false))),
            (WireFormat::Proto, false) if !self.parts.is_empty() => {
                Bytes::from(self.parts.concat())
            }
            (WireFormat::Proto, false) => Bytes::from(self.payload().encode_proto()),
            (WireFormat::Json, false) => Bytes::from(self.payload().encode_json()),
        })
    }
}

/// gzip-compresses `data` (fast level).
pub fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    gzip_all(&[data])
}

/// gzip-compresses the pieces of `data`, end to end, into one stream (fast level).
fn gzip_all(data: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let len: usize = data.iter().map(|d| d.as_ref().len()).sum();
    let mut enc = GzEncoder::new(
        Vec::with_capacity(len / 4 + 64),
        flate2::Compression::fast(),
    );
    for piece in data {
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(piece.as_ref());
    }
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_batch_keeps_its_bytes_and_decodes_on_demand() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/001_traces.pb"
        ))
        .expect("fixture");
        let req = ExportTraceServiceRequest::decode(body.as_slice()).expect("decode");
        let proto = Bytes::from(body);
        let batch = Batch::from_proto(Signal::Traces, proto.clone(), req.item_count());
        assert_eq!(
            batch.encoded(WireFormat::Proto, false).as_ptr(),
            proto.as_ptr()
        );
        assert_eq!(batch.size_bytes(), proto.len() as u64);
        assert_eq!(batch.payload(), &Payload::Traces(req));
    }

    #[test]
    fn merged_batches_are_one_request_with_every_part_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let read = |name: &str| {
            let body = std::fs::read(format!("{dir}/{name}")).expect("fixture");
            ExportLogsServiceRequest::decode(body.as_slice()).expect("decode")
        };
        let a = read("tool-secrets-protobuf/004_logs.pb");
        let b = read("codex-0.169.0/app-server-turn-cost/002_logs.pb");
        // One decoded part and one forwarded as bytes: both kinds of batch merge.
        let first = Batch::new(a.clone().into());
        let second =
            Batch::from_proto(Signal::Logs, Bytes::from(b.encode_to_vec()), b.item_count());
        let merged = Batch::merge([&first, &second, &first].into_iter());
        let parts = merged.proto_parts();
        assert_eq!(parts.len(), 3, "the parts as they are");
        assert_eq!(
            parts[0].as_ptr(),
            first.encoded(WireFormat::Proto, false).as_ptr(),
            "shared, not copied"
        );
        // The resource entries end to end, not joined (that is the batch processor's work).
        let mut want = a.clone();
        want.resource_logs.extend(b.resource_logs);
        want.resource_logs.extend(a.resource_logs);
        assert_eq!(merged.items(), want.item_count());
        assert_eq!(merged.signal(), Signal::Logs);
        assert_eq!(merged.payload(), &Payload::Logs(want));
        assert_eq!(
            merged.size_bytes(),
            2 * first.size_bytes() + second.size_bytes()
        );
        let joined = merged.encoded(WireFormat::Proto, false);
        assert_eq!(joined.as_ref(), parts.concat().as_slice());
        let mut gunzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(merged.encoded(WireFormat::Proto, true).as_ref()),
            &mut gunzipped,
        )
        .expect("gunzip");
        assert_eq!(gunzipped.as_slice(), joined.as_ref());
    }

    #[test]
    fn a_batch_encodes_each_format_once_and_gzip_round_trips() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let req = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
        let batch = Batch::new(req.clone().into());
        assert_eq!(batch.items(), req.item_count());
        let a = batch.encoded(WireFormat::Proto, false).clone();
        let b = batch.encoded(WireFormat::Proto, false).clone();
        assert_eq!(a.as_ptr(), b.as_ptr(), "encoded once, shared");
        assert_eq!(ExportLogsServiceRequest::decode(a).expect("re-decode"), req);
        let gz = batch.encoded(WireFormat::Proto, true);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_ref()), &mut out)
            .expect("gunzip");
        assert_eq!(
            ExportLogsServiceRequest::decode(out.as_slice()).expect("decode"),
            req
        );
    }
}
