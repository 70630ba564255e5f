//! Untouched values are not rewritten: redacting a request in which nothing matches allocates
//! nothing per string (one small per-request counter vector is all), measured with a counting
//! global allocator on the real Codex trace fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
// test code: failing loudly is the point
// A counting global allocator is the one place the project needs unsafe code: it forwards
// every call to the system allocator unchanged.
#![allow(unsafe_code)]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use processors::redaction::{Preset, RedactionConfig};
use processors::{Metadata, ProcessContext, Processor};
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_request_without_matches_costs_no_allocation_per_string() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tool-secrets-protobuf/001_traces.pb"
    ))
    .expect("fixture");
    let req = ExportTraceServiceRequest::decode(body.as_slice()).expect("traces");
    let p = RedactionConfig {
        preset: Some(Preset::Codex),
        ..Default::default()
    }
    .build()
    .expect("preset");
    let md = Metadata::default();

    // Warm-up: the regex engines make their per-thread caches on first use.
    let mut warm = req.clone();
    p.process_traces(&mut warm, &mut ProcessContext::new(&md));

    let mut again = req.clone();
    let mut cx = ProcessContext::new(&md);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    p.process_traces(&mut again, &mut cx);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(cx.counts().is_empty(), "nothing to redact in the traces");
    let spans: usize = req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert!(spans > 500);
    assert!(
        allocations <= 1,
        "{allocations} allocations for {spans} spans without a match"
    );
    assert!(again == req);
}
