//! The proposed `filter/codex-lean` config, applied to the real Codex 0.169.0 traces in
//! `tests/fixtures`: it keeps the spans a Codex dashboard needs (session, turn, model request,
//! tool call), drops the internal ones, never orphans a kept span, and strips `code.*`, `thread.*`,
//! `busy_ns` and `idle_ns`. Prints the encoded size before and after (`--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use processors::filter::FilterConfig;
use processors::{Metadata, OtlpRequest, ProcessContext, Processor};
use prost::Message;
use std::collections::{BTreeSet, HashSet};

/// The YAML proposed for `config/examples`, written as JSON (same structure, same strings).
const CODEX_LEAN: &str = r#"{
  "traces": {
    "span": [
      {"name_regex": "^fs\\."},
      {"name_regex": "^(append_items|persist_rollout_items|send_raw_response_items|record_conversation_items|record_context_updates_and_set_reference_context_item|session\\.flush_rollout)$"},
      {"name": "receiving"},
      {"name_regex": "^(realtime_conversation\\.|flush_assistant_text_segments)"},
      {"name_regex": "^(step_context|capability_roots|world_state|agents_md|instructions|turn_context|environments|exec_server|mcp|built_tools|run_turn|regular_task|app_server|session_init)\\."},
      {"name_regex": "(plugin|skill|hook)"},
      {"name_regex": "^(add|append)_"},
      {"name_regex": "^(built_tools|build_tool_router|finalize_tool_router|build_model_visible_specs|merge_into_namespaces|hosted_model_tool_specs|extension_tool_executors|prepare_tool_recommendations|build_tool_call|capture_binding_with_metadata)$"},
      {"name_regex": "^(auth|get_model_info|get_default_model|list_models|load|load_with_cli_overrides|shell_snapshot)$"},
      {"name_regex": "^(build_prompt|emit_turn_start_lifecycle|consume_startup_prewarm_for_regular_turn|set_previous_turn_settings|track_turn_resolved_config_analytics|turn_diff_display_roots|merge_connector_selection|run_pre_sampling_compact|build_extension_turn_input_items)$"},
      {"name_regex": "^(guardian_scoring_observation|tool_dispatch\\.parallel_lock|unified_exec\\.collect_output)$"}
    ]
  },
  "drop_attributes": {
    "keys": ["busy_ns", "idle_ns"],
    "patterns": ["^code\\.", "^thread\\."]
  }
}"#;

/// What a Codex dashboard is built on; every one of these must survive.
const KEPT: &[&str] = &[
    // app-server RPCs (roots)
    "initialize",
    "thread/start",
    "turn/start",
    "thread/items/list",
    "thread/unsubscribe",
    // session and turn
    "codex.exec",
    "thread_spawn",
    "session_init",
    "session_loop",
    "op.dispatch.turn_input",
    "op.dispatch.shutdown",
    "codex.turn_input",
    "session_task.turn",
    "session_task.run",
    "run_turn",
    // model requests
    "run_sampling_request",
    "try_run_sampling_request",
    "stream_request",
    "model_client.stream_responses_api",
    "responses.stream_request",
    "endpoint_session.stream_encoded_json_with",
    "codex.sampling",
    "handle_response_stream_error",
    "receiving_stream",
    "handle_responses",
    "handle_output_item_done",
    // tool calls
    "drain_in_flight",
    "handle_tool_call",
    "handle_tool_call_with_source",
    "exec_command",
    "dispatch_tool_call_with_state",
    "unified_exec.exec_command",
    "unified_exec.open_session",
    "codex.process.spawn",
    "codex.tool_blocking",
];

const SESSIONS: &[(&str, &[&str])] = &[
    ("tool-secrets-protobuf", &["001_traces.pb", "002_traces.pb"]),
    ("api-retries-protobuf", &["001_traces.pb", "002_traces.pb"]),
    (
        "failing-tool-loop-protobuf",
        &["001_traces.pb", "002_traces.pb", "003_traces.pb"],
    ),
];

fn load(session: &str, file: &str) -> ExportTraceServiceRequest {
    let path = format!(
        "{}/../tests/fixtures/{session}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ExportTraceServiceRequest::decode(body.as_slice()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn spans(req: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// Span ids whose parent is not among `spans` (roots excluded).
fn orphans(reqs: &[ExportTraceServiceRequest]) -> HashSet<Vec<u8>> {
    let ids: HashSet<&[u8]> = reqs
        .iter()
        .flat_map(spans)
        .map(|s| s.span_id.as_slice())
        .collect();
    reqs.iter()
        .flat_map(spans)
        .filter(|s| !s.parent_span_id.is_empty() && !ids.contains(s.parent_span_id.as_slice()))
        .map(|s| s.span_id.clone())
        .collect()
}

/// Runs `config` over every fixture trace request; returns (bytes before, bytes after, spans
/// before, spans after) and checks the invariants.
fn measure(config: &str, check: bool) -> (usize, usize, usize, usize) {
    let cfg: FilterConfig = serde_json::from_str(config).expect("config parses");
    let p = cfg.build().expect("config builds");
    let md = Metadata::default();
    let kept_expected: HashSet<&str> = KEPT.iter().copied().collect();
    let mut seen_after = BTreeSet::new();
    let (mut bytes_before, mut bytes_after, mut spans_before, mut spans_after) = (0, 0, 0, 0);
    for (session, files) in SESSIONS {
        let before: Vec<ExportTraceServiceRequest> =
            files.iter().map(|f| load(session, f)).collect();
        let mut after = before.clone();
        for (file, req) in files.iter().zip(&mut after) {
            let mut cx = ProcessContext::new(&md);
            let n = req.item_count();
            p.process_traces(req, &mut cx);
            req.prune();
            assert_eq!(
                cx.dropped() as usize,
                n - req.item_count(),
                "{session}/{file}"
            );
        }
        for (file, (b, a)) in files.iter().zip(before.iter().zip(&after)) {
            let (eb, ea) = (b.encoded_len(), a.encoded_len());
            if check {
                println!(
                    "{session}/{file}: {eb} -> {ea} bytes ({:.1}% less), {} -> {} spans",
                    100.0 * (eb - ea) as f64 / eb as f64,
                    b.item_count(),
                    a.item_count()
                );
            }
            bytes_before += eb;
            bytes_after += ea;
            spans_before += b.item_count();
            spans_after += a.item_count();
        }
        if check {
            let orphans_before = orphans(&before);
            let orphans_after = orphans(&after);
            let new: Vec<&str> = after
                .iter()
                .flat_map(spans)
                .filter(|s| {
                    orphans_after.contains(&s.span_id) && !orphans_before.contains(&s.span_id)
                })
                .map(|s| s.name.as_str())
                .collect();
            assert!(
                new.is_empty(),
                "{session}: kept spans whose parent was dropped: {new:?}"
            );
            for s in after.iter().flat_map(spans) {
                assert!(
                    kept_expected.contains(s.name.as_str()),
                    "{session}: unexpected span kept: {}",
                    s.name
                );
                seen_after.insert(s.name.clone());
                for kv in &s.attributes {
                    let k = kv.key.as_str();
                    assert!(
                        !(k.starts_with("code.")
                            || k.starts_with("thread.")
                            || k == "busy_ns"
                            || k == "idle_ns"),
                        "{session}: {} still has {k}",
                        s.name
                    );
                }
            }
        }
    }
    if check {
        let missing: Vec<&&str> = KEPT.iter().filter(|n| !seen_after.contains(**n)).collect();
        assert!(
            missing.is_empty(),
            "dashboard spans dropped or absent from fixtures: {missing:?}"
        );
    }
    (bytes_before, bytes_after, spans_before, spans_after)
}

fn pct(before: usize, after: usize) -> f64 {
    100.0 * (before - after) as f64 / before as f64
}

#[test]
fn codex_lean_keeps_dashboard_spans_and_reports_the_byte_reduction() {
    let (bb, ba, sb, sa) = measure(CODEX_LEAN, true);
    println!(
        "codex-lean total: {bb} -> {ba} bytes ({:.1}% less), {sb} -> {sa} spans ({:.1}% fewer)",
        pct(bb, ba),
        pct(sb, sa)
    );
    // Breakdown: each half of the config alone.
    let full: serde_json::Value = serde_json::from_str(CODEX_LEAN).expect("json");
    let spans_only = serde_json::json!({ "traces": full["traces"] }).to_string();
    let attrs_only = serde_json::json!({ "drop_attributes": full["drop_attributes"] }).to_string();
    let (_, a1, _, _) = measure(&spans_only, false);
    let (_, a2, _, _) = measure(&attrs_only, false);
    println!(
        "  span conditions alone: {bb} -> {a1} bytes ({:.1}% less)",
        pct(bb, a1)
    );
    println!(
        "  drop_attributes alone: {bb} -> {a2} bytes ({:.1}% less)",
        pct(bb, a2)
    );
    assert!(
        ba * 3 < bb,
        "expected at least a two-thirds reduction, got {bb} -> {ba}"
    );
}
