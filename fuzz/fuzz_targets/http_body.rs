//! The OTLP/HTTP request-body path, as `receivers::otlp::http` runs it after reading the body:
//! optional gzip or zstd inflate with a size cap → protobuf or OTLP/JSON decode of one of the
//! three export requests → (when it decodes) the encoders the exporters use on the result, and
//! the error replies the receiver builds when it does not. Nothing on this path may panic.
//!
//! Input layout: byte 0 chooses the path, the rest is the body.
//!   bit 7 (0x80)      the body is gzip (`Content-Encoding: gzip`) and is inflated first
//!   bit 6 (0x40)      (bit 7 clear) the body is zstd (`Content-Encoding: zstd`)
//!   bits 0-5 mod 6    0 proto traces, 1 proto metrics, 2 proto logs,
//!                     3 JSON traces,  4 JSON metrics,  5 JSON logs
#![no_main]

use codex_otel_gateway::codec::json;
use codex_otel_gateway::receivers::otlp::http::{inflate, inflate_zstd};
use codex_otel_gateway::receivers::otlp::status::RequestError;
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// Inflate cap. The receiver's default is 20 MiB; 1 MiB keeps each run fast and still lets small
/// gzip/zstd bombs reach the `PayloadTooLarge` path.
const INFLATE_LIMIT: usize = 1 << 20;

/// What the receiver does with an error: both reply encodings are built from it.
fn reply(err: &RequestError) {
    let _ = err.http_status();
    let _ = err.json_body();
    let _ = err.rpc_status().encode_to_vec();
}

/// Protobuf body: decode as the receiver does; on success run both encoders over the result.
fn proto<M: Message + Default>(body: &[u8], to_json: fn(&M) -> Vec<u8>) {
    match M::decode(body) {
        Ok(r) => {
            let _ = to_json(&r);
            let _ = r.encode_to_vec();
        }
        Err(e) => reply(&RequestError::BadRequest(format!(
            "invalid OTLP protobuf: {e}"
        ))),
    }
}

/// OTLP/JSON body: the receiver's decoder; on success both encoders, else the error reply.
fn from_json<M: Message>(decoded: Result<M, json::JsonError>, to_json: fn(&M) -> Vec<u8>) {
    match decoded {
        Ok(r) => {
            let _ = to_json(&r);
            let _ = r.encode_to_vec();
        }
        Err(e) => reply(&RequestError::BadRequest(e.to_string())),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let inflated = if sel & 0x80 != 0 {
        Some(inflate(body, INFLATE_LIMIT))
    } else if sel & 0x40 != 0 {
        Some(inflate_zstd(body, INFLATE_LIMIT))
    } else {
        None
    };
    let path = (sel & 0x3f) % 6;

    let owned;
    let body: &[u8] = match inflated {
        None => body,
        Some(Ok(b)) => {
            assert!(
                b.len() <= INFLATE_LIMIT,
                "inflate returned more than its limit"
            );
            owned = b;
            &owned
        }
        Some(Err(e)) => return reply(&e),
    };

    match path {
        0 => proto(body, json::encode_traces),
        1 => proto(body, json::encode_metrics),
        2 => proto(body, json::encode_logs),
        3 => from_json(json::decode_traces(body), json::encode_traces),
        4 => from_json(json::decode_metrics(body), json::encode_metrics),
        _ => from_json(json::decode_logs(body), json::encode_logs),
    }
});
