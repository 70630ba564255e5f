//! The redaction processor (`preset: codex`) on arbitrary OTLP requests: the input, less its
//! first byte, is decoded as a protobuf export request; when it decodes, the processor runs over
//! it in place and the result is encoded again (protobuf and OTLP/JSON). Nothing may panic, and
//! what the processor leaves must still encode to protobuf that decodes. A logs body is also
//! read as a view of its bytes (`processors::logs_view`), which must not read what prost
//! refuses, and redacted in place, which must write exactly what the decoded path writes.
//!
//! Input layout: byte 0 chooses the request and the config, the rest is the protobuf body.
//!   bits 0-1 mod 3    0 logs, 1 traces, 2 metrics
//!   bit 2  (0x04)     `summary: counts` (adds `redaction.masked.count` attributes)
#![no_main]

use codex_otel_gateway::codec::json;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use processors::logs_view::{LogsView, ViewLimits};
use processors::redaction::{RedactionConfig, RedactionProcessor};
use processors::{Metadata, ProcessContext, Processor};
use prost::Message;
use serde_json::json;
use std::sync::OnceLock;

const HASH_KEY: &str = "0123456789abcdef0123456789abcdef";

/// The receiver's default limits (a view is read only within them).
const VIEW_LIMITS: ViewLimits = ViewLimits {
    max_attributes: 1000,
    max_string: 64 * 1024,
    max_depth: 32,
    max_items: 100_000,
};

fn build(summary: bool) -> RedactionProcessor {
    let mut cfg = json!({ "preset": "codex", "hash_key": HASH_KEY });
    if summary {
        cfg["summary"] = json!("counts");
    }
    let cfg: RedactionConfig = serde_json::from_value(cfg).expect("a valid redaction config");
    cfg.build().expect("the codex preset builds")
}

/// Built once per process: building compiles the detectors' regexes.
fn processor(summary: bool) -> &'static RedactionProcessor {
    static PLAIN: OnceLock<RedactionProcessor> = OnceLock::new();
    static COUNTS: OnceLock<RedactionProcessor> = OnceLock::new();
    if summary {
        COUNTS.get_or_init(|| build(true))
    } else {
        PLAIN.get_or_init(|| build(false))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let p = processor(sel & 0x04 != 0);
    let md = Metadata::default();
    let mut cx = ProcessContext::new(&md);

    match (sel & 0x03) % 3 {
        0 => {
            let Ok(mut req) = ExportLogsServiceRequest::decode(body) else {
                assert!(
                    LogsView::parse(body, &VIEW_LIMITS).is_none(),
                    "a view of logs prost refuses"
                );
                return;
            };
            p.process_logs(&mut req, &mut cx);
            let out = req.encode_to_vec();
            ExportLogsServiceRequest::decode(out.as_slice()).expect("redacted logs re-decode");
            let _ = json::encode_logs(&req);
            // The same body read as a view (when the view reads it) and redacted in place must
            // come out as the same bytes, with the same counts.
            if let Some(mut view) = LogsView::parse(body, &VIEW_LIMITS) {
                let mut vcx = ProcessContext::new(&md);
                p.process_log_views(&mut view, &mut vcx);
                assert_eq!(view.encode_to_vec(), out, "a view redacted differently");
                assert_eq!(vcx.counts(), cx.counts(), "a view counted differently");
            }
        }
        1 => {
            let Ok(mut req) = ExportTraceServiceRequest::decode(body) else {
                return;
            };
            p.process_traces(&mut req, &mut cx);
            let out = req.encode_to_vec();
            ExportTraceServiceRequest::decode(out.as_slice()).expect("redacted traces re-decode");
            let _ = json::encode_traces(&req);
        }
        _ => {
            let Ok(mut req) = ExportMetricsServiceRequest::decode(body) else {
                return;
            };
            p.process_metrics(&mut req, &mut cx);
            let out = req.encode_to_vec();
            ExportMetricsServiceRequest::decode(out.as_slice())
                .expect("redacted metrics re-decode");
            let _ = json::encode_metrics(&req);
        }
    }
    let _ = cx.take_counts();
    let _ = cx.take_dropped();
});
