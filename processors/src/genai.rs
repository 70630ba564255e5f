//! `genai` processor: adds OpenTelemetry **GenAI semantic-convention** attributes (`gen_ai.*`)
//! next to Codex's own, so dashboards and backends built for other agents and LLM clients
//! (token usage, conversations, tool calls) work on Codex telemetry too.
//!
//! Place in the flow: after `codex` (it reads typed or string token counts alike, but the
//! normaliser's `event.name` / dedupe make matching exact) and `redaction`, before `filter` (a
//! filter may then drop Codex's own keys and keep only the `gen_ai.*` ones) and before
//! `metric_names` (it matches the metric by its Codex name, `codex.turn.token_usage`). It never
//! removes or changes anything: it only **adds** attributes, and never one that is already
//! there (an existing `gen_ai.*` attribute, e.g. from a newer Codex, always wins).
//!
//! Semantic conventions followed: **OpenTelemetry semantic conventions v1.40.0**, GenAI registry
//! (`gen_ai.*`, status *Development*): v1.37.0 introduced `gen_ai.provider.name` (replacing
//! `gen_ai.system`) and v1.40.0 added `gen_ai.usage.cache_read.input_tokens` /
//! `gen_ai.usage.cache_creation.input_tokens` with the rule that `gen_ai.usage.input_tokens`
//! includes cached tokens — which is what Codex's `input_token_count` already counts.
//! `gen_ai.usage.reasoning.output_tokens` is newer than v1.40.0 (semantic-conventions#3194, now
//! in the GenAI conventions repository); it is part of the `usage` group and can be left out
//! with `reasoning_tokens: false`.
//!
//! What is added (each group can be turned off):
//!
//! | group | logs (Codex events, `event.name` = `codex.*`) | spans | metrics (`metrics: true`) |
//! | --- | --- | --- | --- |
//! | `conversation` | `gen_ai.conversation.id` ← `conversation.id` | same, on spans with `conversation.id` | – |
//! | `provider` | `gen_ai.provider.name` = `provider_name` (default `openai`) | on model and agent spans | on `codex.turn.token_usage` points |
//! | `operation` | `gen_ai.operation.name` = `chat` on `codex.api_request` / `codex.sse_event`, `execute_tool` on `codex.tool_result` / `codex.tool_decision` | `chat` on model spans, `invoke_agent` on agent spans, `execute_tool` on tool spans | – |
//! | `model` | `gen_ai.request.model` ← `model` on chat events; `gen_ai.response.model` too on `response.completed` | `gen_ai.request.model` ← `model` on model and agent spans | `gen_ai.request.model` ← `model` |
//! | `tools` | `gen_ai.tool.name` ← `tool_name`, `gen_ai.tool.call.id` ← `call_id` on tool events | the same on tool spans | – |
//! | `usage` | on `codex.sse_event` `response.completed`: `gen_ai.usage.input_tokens` ← `input_token_count`, `gen_ai.usage.output_tokens` ← `output_token_count`, `gen_ai.usage.cache_read.input_tokens` ← `cached_token_count`, `gen_ai.usage.cache_creation.input_tokens` ← `cache_write_token_count`, `gen_ai.usage.reasoning.output_tokens` ← `reasoning_token_count` | the same from `codex.turn.token_usage.{input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_output_tokens}` on agent spans | – |
//! | (`metrics`) | – | – | `gen_ai.token.type` = `input` / `output` where Codex's `token_type` is `input` / `output` (the other Codex token types get none: they are parts of those two) |
//!
//! Spans, as Codex 0.169.0 emits them (`tests/fixtures/*/0*_traces.pb`):
//! - **model spans**: `model_client.stream_responses_api` (one per Responses API call, with
//!   `model`, `http.method`, `api.path`) — the GenAI *inference* span. Configurable
//!   (`model_span_names`).
//! - **agent spans**: `session_task.turn` (one per turn, with `model` and the turn's
//!   `codex.turn.token_usage.*`) — treated as GenAI *invoke_agent*. Configurable
//!   (`agent_span_names`).
//! - **tool spans**: the dispatch span of a tool call, named after the tool (`exec_command`,
//!   with `tool_name`, `call_id`, `codex.tool.phase = dispatch`): any span with a string
//!   `tool_name` whose name equals it or that carries `codex.tool.phase`.
//!
//! Token counts are read as integers or as numeric strings (Codex 0.169.0 sends
//! `input_token_count = "90001"`; the `codex` normaliser makes it an int); the `gen_ai.usage.*`
//! values are always integers.
//!
//! ```yaml
//! genai:
//!   provider_name: openai          # value of gen_ai.provider.name (default openai)
//!   provider_from_record: false    # prefer Codex's own `provider_name` attribute where present
//!   logs: true                     # signals (default: logs and traces on, metrics off)
//!   traces: true
//!   metrics: false                 # gen_ai.token.type on codex.turn.token_usage
//!   conversation: true             # groups (all on by default)
//!   provider: true
//!   operation: true
//!   model: true
//!   tools: true
//!   usage: true
//!   reasoning_tokens: true
//!   model_span_names: [model_client.stream_responses_api]
//!   agent_span_names: [session_task.turn]
//!   token_usage_metric: codex.turn.token_usage
//! ```
//!
//! Counted as `genai_attributes{label=<group>}` (`conversation`, `provider`, `operation`,
//! `model`, `tools`, `usage`, `token_type`): attributes added.

use crate::codex_event::{
    count_attr, event_name, is_response_completed, set_if_absent, str_attr, API_REQUEST, SSE_EVENT,
    TOOL_DECISION, TOOL_RESULT,
};
use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Deserialize;

/// `gen_ai.conversation.id`.
pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.provider.name`.
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.operation.name`.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.request.model`.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.response.model`.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.tool.name`.
pub const TOOL_NAME: &str = "gen_ai.tool.name";
/// `gen_ai.tool.call.id`.
pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `gen_ai.usage.input_tokens` (includes cached input tokens).
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens` (includes reasoning tokens).
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.usage.cache_read.input_tokens`.
pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// `gen_ai.usage.cache_creation.input_tokens`.
pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// `gen_ai.usage.reasoning.output_tokens`.
pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// `gen_ai.token.type`.
pub const TOKEN_TYPE: &str = "gen_ai.token.type";

/// Log record token-count keys (Codex) → usage keys (GenAI), the reasoning one last.
const LOG_USAGE: [(&str, &str); 5] = [
    ("input_token_count", USAGE_INPUT_TOKENS),
    ("output_token_count", USAGE_OUTPUT_TOKENS),
    ("cached_token_count", USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_write_token_count", USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_token_count", USAGE_REASONING_OUTPUT_TOKENS),
];

/// Agent span token-usage keys (Codex) → usage keys (GenAI), the reasoning one last.
const SPAN_USAGE: [(&str, &str); 5] = [
    ("codex.turn.token_usage.input_tokens", USAGE_INPUT_TOKENS),
    ("codex.turn.token_usage.output_tokens", USAGE_OUTPUT_TOKENS),
    (
        "codex.turn.token_usage.cached_input_tokens",
        USAGE_CACHE_READ_INPUT_TOKENS,
    ),
    (
        "codex.turn.token_usage.cache_write_input_tokens",
        USAGE_CACHE_CREATION_INPUT_TOKENS,
    ),
    (
        "codex.turn.token_usage.reasoning_output_tokens",
        USAGE_REASONING_OUTPUT_TOKENS,
    ),
];

/// Config of the `genai` processor. `genai: {}` adds everything but the metric mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenAiConfig {
    /// Value of `gen_ai.provider.name`. Must not be empty. Default: `openai`.
    pub provider_name: String,
    /// Use the record's own `provider_name` attribute (Codex puts its configured model provider
    /// there on `codex.conversation_starts`) instead of `provider_name` where a record has one.
    /// Default: `false`.
    pub provider_from_record: bool,
    /// Map log records (Codex events). Default: `true`.
    pub logs: bool,
    /// Map spans. Default: `true`.
    pub traces: bool,
    /// Map `token_usage_metric` data points. Default: `false`.
    pub metrics: bool,
    /// Add `gen_ai.conversation.id`. Default: `true`.
    pub conversation: bool,
    /// Add `gen_ai.provider.name`. Default: `true`.
    pub provider: bool,
    /// Add `gen_ai.operation.name`. Default: `true`.
    pub operation: bool,
    /// Add `gen_ai.request.model` / `gen_ai.response.model`. Default: `true`.
    pub model: bool,
    /// Add `gen_ai.tool.name` / `gen_ai.tool.call.id`. Default: `true`.
    pub tools: bool,
    /// Add `gen_ai.usage.*`. Default: `true`.
    pub usage: bool,
    /// Within `usage`, add `gen_ai.usage.reasoning.output_tokens` (newer than v1.40.0).
    /// Default: `true`.
    pub reasoning_tokens: bool,
    /// Names of spans that are one model call (GenAI inference, `chat`). Default:
    /// `[model_client.stream_responses_api]`.
    pub model_span_names: Vec<String>,
    /// Names of spans that are one agent turn (`invoke_agent`, with the turn's token usage).
    /// Default: `[session_task.turn]`.
    pub agent_span_names: Vec<String>,
    /// Name of Codex's token usage metric (a histogram with a `token_type` point attribute).
    /// Default: `codex.turn.token_usage`.
    pub token_usage_metric: String,
}

impl Default for GenAiConfig {
    fn default() -> Self {
        GenAiConfig {
            provider_name: "openai".to_string(),
            provider_from_record: false,
            logs: true,
            traces: true,
            metrics: false,
            conversation: true,
            provider: true,
            operation: true,
            model: true,
            tools: true,
            usage: true,
            reasoning_tokens: true,
            model_span_names: vec!["model_client.stream_responses_api".to_string()],
            agent_span_names: vec!["session_task.turn".to_string()],
            token_usage_metric: "codex.turn.token_usage".to_string(),
        }
    }
}

/// The built `genai` processor.
#[derive(Debug)]
pub struct GenAiProcessor {
    cfg: GenAiConfig,
}

impl GenAiConfig {
    /// Checks the config and builds the processor; all problems are returned at once.
    pub fn build(&self) -> Result<GenAiProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        if self.provider && self.provider_name.is_empty() {
            errors.push(BuildError::field("provider_name", "must not be empty"));
        }
        for (field, list) in [
            ("model_span_names", &self.model_span_names),
            ("agent_span_names", &self.agent_span_names),
        ] {
            for (i, name) in list.iter().enumerate() {
                if name.is_empty() {
                    errors.push(BuildError::field(format!("{field}[{i}]"), "empty name"));
                }
            }
        }
        if self.metrics && self.token_usage_metric.is_empty() {
            errors.push(BuildError::field("token_usage_metric", "must not be empty"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GenAiProcessor { cfg: self.clone() })
    }
}

/// Attributes added in one request, per group.
#[derive(Debug, Default)]
struct Tally {
    conversation: u64,
    provider: u64,
    operation: u64,
    model: u64,
    tools: u64,
    usage: u64,
    token_type: u64,
}

impl Tally {
    fn report(&self, cx: &mut ProcessContext<'_>) {
        for (label, n) in [
            ("conversation", self.conversation),
            ("provider", self.provider),
            ("operation", self.operation),
            ("model", self.model),
            ("tools", self.tools),
            ("usage", self.usage),
            ("token_type", self.token_type),
        ] {
            if n > 0 {
                cx.count("genai_attributes", label, n);
            }
        }
    }
}

/// Adds `key = value` if absent and counts it in `counter`.
fn add(attrs: &mut Vec<KeyValue>, key: &str, value: Value, counter: &mut u64) {
    if set_if_absent(attrs, key, value) {
        *counter += 1;
    }
}

/// Adds `to = <string value of from>` if `from` is a string and `to` is absent.
fn copy_str(attrs: &mut Vec<KeyValue>, from: &str, to: &str, counter: &mut u64) {
    if attrs.iter().any(|a| a.key == to) {
        return;
    }
    if let Some(v) = str_attr(attrs, from).map(str::to_string) {
        add(attrs, to, Value::StringValue(v), counter);
    }
}

/// What a Codex log event is, for the GenAI mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogKind {
    /// `codex.api_request`, `codex.sse_event`; `completed` for `response.completed`.
    Chat { completed: bool },
    /// `codex.tool_result`, `codex.tool_decision`.
    Tool,
    /// Any other `codex.*` event.
    Other,
}

impl GenAiProcessor {
    fn provider_value(&self, attrs: &[KeyValue]) -> String {
        if self.cfg.provider_from_record {
            if let Some(p) = str_attr(attrs, "provider_name").filter(|p| !p.is_empty()) {
                return p.to_string();
            }
        }
        self.cfg.provider_name.clone()
    }

    fn provider(&self, attrs: &mut Vec<KeyValue>, t: &mut Tally) {
        if self.cfg.provider && !attrs.iter().any(|a| a.key == PROVIDER_NAME) {
            let p = self.provider_value(attrs);
            add(attrs, PROVIDER_NAME, Value::StringValue(p), &mut t.provider);
        }
    }

    fn operation(&self, attrs: &mut Vec<KeyValue>, op: &str, t: &mut Tally) {
        if self.cfg.operation {
            add(
                attrs,
                OPERATION_NAME,
                Value::StringValue(op.to_string()),
                &mut t.operation,
            );
        }
    }

    fn usage(&self, attrs: &mut Vec<KeyValue>, map: &[(&str, &str); 5], t: &mut Tally) {
        if !self.cfg.usage {
            return;
        }
        let take = if self.cfg.reasoning_tokens { 5 } else { 4 };
        for (from, to) in &map[..take] {
            if let Some(n) = count_attr(attrs, from).and_then(|n| i64::try_from(n).ok()) {
                add(attrs, to, Value::IntValue(n), &mut t.usage);
            }
        }
    }

    fn log_record(&self, lr: &mut LogRecord, t: &mut Tally) {
        let kind = {
            let name = event_name(lr);
            if !name.starts_with("codex.") {
                return;
            }
            match name {
                API_REQUEST => LogKind::Chat { completed: false },
                SSE_EVENT => LogKind::Chat {
                    completed: is_response_completed(lr),
                },
                TOOL_RESULT | TOOL_DECISION => LogKind::Tool,
                _ => LogKind::Other,
            }
        };
        let attrs = &mut lr.attributes;
        if self.cfg.conversation {
            copy_str(
                attrs,
                "conversation.id",
                CONVERSATION_ID,
                &mut t.conversation,
            );
        }
        self.provider(attrs, t);
        match kind {
            LogKind::Chat { completed } => {
                self.operation(attrs, "chat", t);
                if self.cfg.model {
                    copy_str(attrs, "model", REQUEST_MODEL, &mut t.model);
                    if completed {
                        copy_str(attrs, "model", RESPONSE_MODEL, &mut t.model);
                    }
                }
                if completed {
                    self.usage(attrs, &LOG_USAGE, t);
                }
            }
            LogKind::Tool => {
                self.operation(attrs, "execute_tool", t);
                if self.cfg.tools {
                    copy_str(attrs, "tool_name", TOOL_NAME, &mut t.tools);
                    copy_str(attrs, "call_id", TOOL_CALL_ID, &mut t.tools);
                }
            }
            LogKind::Other => {}
        }
    }

    fn span(&self, span: &mut Span, t: &mut Tally) {
        let attrs = &mut span.attributes;
        if self.cfg.conversation {
            copy_str(
                attrs,
                "conversation.id",
                CONVERSATION_ID,
                &mut t.conversation,
            );
        }
        let name = span.name.as_str();
        if self.cfg.model_span_names.iter().any(|n| n == name) {
            self.operation(attrs, "chat", t);
            self.provider(attrs, t);
            if self.cfg.model {
                copy_str(attrs, "model", REQUEST_MODEL, &mut t.model);
            }
        } else if self.cfg.agent_span_names.iter().any(|n| n == name) {
            self.operation(attrs, "invoke_agent", t);
            self.provider(attrs, t);
            if self.cfg.model {
                copy_str(attrs, "model", REQUEST_MODEL, &mut t.model);
            }
            self.usage(attrs, &SPAN_USAGE, t);
        } else {
            let is_dispatch = str_attr(attrs, "tool_name").is_some_and(|tool| {
                tool == name || attrs.iter().any(|a| a.key == "codex.tool.phase")
            });
            if is_dispatch {
                self.operation(attrs, "execute_tool", t);
                if self.cfg.tools {
                    copy_str(attrs, "tool_name", TOOL_NAME, &mut t.tools);
                    copy_str(attrs, "call_id", TOOL_CALL_ID, &mut t.tools);
                }
            }
        }
    }

    fn token_point(&self, attrs: &mut Vec<KeyValue>, t: &mut Tally) {
        let token_type = match str_attr(attrs, "token_type") {
            Some("input") => Some("input"),
            Some("output") => Some("output"),
            _ => None,
        };
        if let Some(tt) = token_type {
            add(
                attrs,
                TOKEN_TYPE,
                Value::StringValue(tt.to_string()),
                &mut t.token_type,
            );
        }
        self.provider(attrs, t);
        if self.cfg.model {
            copy_str(attrs, "model", REQUEST_MODEL, &mut t.model);
        }
    }
}

impl Processor for GenAiProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, cx: &mut ProcessContext<'_>) {
        if !self.cfg.traces {
            return;
        }
        let mut t = Tally::default();
        for span in req
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
        {
            self.span(span, &mut t);
        }
        t.report(cx);
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        if !self.cfg.metrics {
            return;
        }
        let mut t = Tally::default();
        for m in req
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
            .filter(|m| m.name == self.cfg.token_usage_metric)
        {
            crate::for_each_point_attributes(m, |a| self.token_point(a, &mut t));
        }
        t.report(cx);
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        if !self.cfg.logs {
            return;
        }
        let mut t = Tally::default();
        for lr in req
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            self.log_record(lr, &mut t);
        }
        t.report(cx);
    }
}

impl crate::Component for GenAiConfig {
    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex::CodexConfig;
    use crate::{find_attr, Metadata};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use prost::Message;

    fn fixture<T: Message + Default>(path: &str) -> T {
        let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
        T::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    fn build(json: &str) -> GenAiProcessor {
        serde_json::from_str::<GenAiConfig>(json)
            .unwrap_or_else(|e| panic!("{json}: {e}"))
            .build()
            .expect("valid")
    }

    fn records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
        req.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect()
    }

    fn s(v: &str) -> Value {
        Value::StringValue(v.into())
    }

    fn run_logs(p: &GenAiProcessor, req: &mut ExportLogsServiceRequest) -> Vec<(String, u64)> {
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(req, &mut cx);
        cx.counts()
            .iter()
            .map(|(n, l, v)| {
                assert_eq!(*n, "genai_attributes");
                (l.clone(), *v)
            })
            .collect()
    }

    #[test]
    fn response_completed_records_of_the_failing_tool_loop_get_usage_and_models() {
        for normalised in [false, true] {
            let mut req: ExportLogsServiceRequest =
                fixture("failing-tool-loop-protobuf/005_logs.pb");
            if normalised {
                let codex = CodexConfig::default().build().expect("codex");
                codex.process_logs(&mut req, &mut ProcessContext::new(&Metadata::default()));
            }
            run_logs(&build("{}"), &mut req);
            let with_usage: Vec<_> = records(&req)
                .into_iter()
                .filter(|lr| find_attr(&lr.attributes, USAGE_INPUT_TOKENS).is_some())
                .collect();
            assert_eq!(with_usage.len(), 8, "normalised={normalised}");
            let mut inputs: Vec<i64> = Vec::new();
            for lr in with_usage {
                let a = &lr.attributes;
                match find_attr(a, USAGE_INPUT_TOKENS) {
                    Some(Value::IntValue(i)) => inputs.push(*i),
                    other => panic!("{other:?}"),
                }
                assert_eq!(
                    find_attr(a, USAGE_OUTPUT_TOKENS),
                    Some(&Value::IntValue(3000))
                );
                assert_eq!(
                    find_attr(a, USAGE_CACHE_READ_INPUT_TOKENS),
                    Some(&Value::IntValue(20000))
                );
                assert_eq!(
                    find_attr(a, USAGE_REASONING_OUTPUT_TOKENS),
                    Some(&Value::IntValue(1500))
                );
                assert_eq!(
                    find_attr(a, USAGE_CACHE_CREATION_INPUT_TOKENS),
                    Some(&Value::IntValue(0))
                );
                assert_eq!(find_attr(a, REQUEST_MODEL), Some(&s("gpt-5.1-codex")));
                assert_eq!(find_attr(a, RESPONSE_MODEL), Some(&s("gpt-5.1-codex")));
                assert_eq!(find_attr(a, OPERATION_NAME), Some(&s("chat")));
                assert_eq!(find_attr(a, PROVIDER_NAME), Some(&s("openai")));
            }
            inputs.sort_unstable();
            assert_eq!(inputs, (90001..=90008).collect::<Vec<i64>>());
        }
    }

    #[test]
    fn every_codex_event_gets_the_conversation_and_tool_events_their_tool_call() {
        let mut req: ExportLogsServiceRequest = fixture("failing-tool-loop-protobuf/005_logs.pb");
        let counts = run_logs(&build("{}"), &mut req);
        let mut tools = 0;
        for lr in records(&req) {
            let a = &lr.attributes;
            let name = event_name(lr).to_string();
            if !name.starts_with("codex.") {
                assert!(find_attr(a, CONVERSATION_ID).is_none());
                continue;
            }
            assert_eq!(
                find_attr(a, CONVERSATION_ID),
                find_attr(a, "conversation.id"),
                "{name}"
            );
            assert!(find_attr(a, CONVERSATION_ID).is_some(), "{name}");
            if name == TOOL_RESULT || name == TOOL_DECISION {
                tools += 1;
                assert_eq!(find_attr(a, OPERATION_NAME), Some(&s("execute_tool")));
                assert_eq!(find_attr(a, TOOL_NAME), Some(&s("exec_command")));
                assert_eq!(find_attr(a, TOOL_CALL_ID), find_attr(a, "call_id"));
            }
            if name == API_REQUEST {
                assert_eq!(find_attr(a, OPERATION_NAME), Some(&s("chat")));
                assert!(find_attr(a, RESPONSE_MODEL).is_none());
            }
        }
        assert_eq!(tools, 14);
        let labels: Vec<&str> = counts.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "conversation",
                "provider",
                "operation",
                "model",
                "tools",
                "usage"
            ]
        );
    }

    #[test]
    fn existing_gen_ai_attributes_are_never_overwritten_and_groups_switch_off() {
        let mut req: ExportLogsServiceRequest = fixture("failing-tool-loop-protobuf/005_logs.pb");
        for lr in req
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            set_if_absent(&mut lr.attributes, PROVIDER_NAME, s("azure.ai.openai"));
            set_if_absent(&mut lr.attributes, USAGE_INPUT_TOKENS, Value::IntValue(7));
        }
        let counts = run_logs(
            &build(r#"{"usage": false, "tools": false, "conversation": false}"#),
            &mut req,
        );
        for lr in records(&req) {
            let a = &lr.attributes;
            assert_eq!(find_attr(a, PROVIDER_NAME), Some(&s("azure.ai.openai")));
            assert_eq!(find_attr(a, USAGE_INPUT_TOKENS), Some(&Value::IntValue(7)));
            for key in [USAGE_OUTPUT_TOKENS, TOOL_NAME, CONVERSATION_ID] {
                assert!(find_attr(a, key).is_none(), "{key}");
            }
            let n = a.iter().filter(|kv| kv.key.starts_with("gen_ai.")).count();
            let unique: std::collections::HashSet<&str> = a
                .iter()
                .filter(|kv| kv.key.starts_with("gen_ai."))
                .map(|kv| kv.key.as_str())
                .collect();
            assert_eq!(n, unique.len(), "no duplicate gen_ai keys");
        }
        assert!(counts.iter().all(|(l, _)| l == "operation" || l == "model"));
    }

    #[test]
    fn provider_can_come_from_codex_conversation_starts() {
        let mut req: ExportLogsServiceRequest = fixture("failing-tool-loop-protobuf/005_logs.pb");
        run_logs(&build(r#"{"provider_from_record": true}"#), &mut req);
        for lr in records(&req) {
            let want = match event_name(lr) {
                "codex.conversation_starts" => Some(s("mock")),
                n if n.starts_with("codex.") => Some(s("openai")),
                _ => None,
            };
            assert_eq!(find_attr(&lr.attributes, PROVIDER_NAME).cloned(), want);
        }
    }

    #[test]
    fn fixture_spans_map_model_calls_turns_and_tool_dispatch() {
        let mut req: ExportTraceServiceRequest = fixture("tool-secrets-protobuf/001_traces.pb");
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        build("{}").process_traces(&mut req, &mut cx);
        let spans: Vec<&Span> = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let op = |sp: &Span| find_attr(&sp.attributes, OPERATION_NAME).cloned();
        let chat: Vec<_> = spans
            .iter()
            .filter(|sp| op(sp) == Some(s("chat")))
            .collect();
        assert!(!chat.is_empty());
        for sp in &chat {
            assert_eq!(sp.name, "model_client.stream_responses_api");
            assert_eq!(
                find_attr(&sp.attributes, REQUEST_MODEL),
                Some(&s("gpt-5.1-codex"))
            );
            assert_eq!(find_attr(&sp.attributes, PROVIDER_NAME), Some(&s("openai")));
        }
        let tools: Vec<_> = spans
            .iter()
            .filter(|sp| op(sp) == Some(s("execute_tool")))
            .collect();
        assert!(!tools.is_empty());
        for sp in &tools {
            assert_eq!(sp.name, "exec_command");
            assert_eq!(
                find_attr(&sp.attributes, TOOL_NAME),
                Some(&s("exec_command"))
            );
            assert!(find_attr(&sp.attributes, TOOL_CALL_ID).is_some());
        }
        // Spans that only mention a tool (guardian scoring, response handling) are not tool calls.
        assert!(spans
            .iter()
            .filter(|sp| sp.name == "handle_responses")
            .all(|sp| op(sp).is_none()));
        for sp in spans.iter().filter(|sp| sp.name == "session_task.turn") {
            assert_eq!(op(sp), Some(s("invoke_agent")));
            let a = &sp.attributes;
            assert_eq!(
                find_attr(a, USAGE_INPUT_TOKENS),
                find_attr(a, "codex.turn.token_usage.input_tokens")
            );
            assert!(find_attr(a, USAGE_INPUT_TOKENS).is_some());
        }
        for sp in spans
            .iter()
            .filter(|sp| find_attr(&sp.attributes, "conversation.id").is_some())
        {
            assert_eq!(
                find_attr(&sp.attributes, CONVERSATION_ID),
                find_attr(&sp.attributes, "conversation.id")
            );
        }
    }

    #[test]
    fn token_usage_metric_points_get_a_token_type_only_when_enabled() {
        let original: ExportMetricsServiceRequest =
            fixture("failing-tool-loop-protobuf/004_metrics.pb");
        let md = Metadata::default();
        let mut req = original.clone();
        build("{}").process_metrics(&mut req, &mut ProcessContext::new(&md));
        assert_eq!(req, original, "metrics are off by default");
        build(r#"{"metrics": true}"#).process_metrics(&mut req, &mut ProcessContext::new(&md));
        let mut types = Vec::new();
        for m in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "codex.turn.token_usage")
        {
            let Some(Data::Histogram(h)) = &m.data else {
                panic!("histogram expected")
            };
            for p in &h.data_points {
                types.push((
                    str_attr(&p.attributes, "token_type").map(str::to_string),
                    find_attr(&p.attributes, TOKEN_TYPE).cloned(),
                ));
                assert_eq!(find_attr(&p.attributes, PROVIDER_NAME), Some(&s("openai")));
            }
        }
        types.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        let mapped: Vec<_> = types.iter().filter(|(_, t)| t.is_some()).collect();
        assert_eq!(mapped.len(), 2, "{types:?}");
        for (codex, genai) in mapped {
            assert_eq!(codex.as_deref().map(s), genai.clone());
        }
        assert_eq!(types.len(), 6);
    }

    #[test]
    fn invalid_config_reports_field_paths_and_unknown_fields_are_rejected() {
        let errs = serde_json::from_str::<GenAiConfig>(
            r#"{"provider_name": "", "model_span_names": ["a", ""], "metrics": true,
                "token_usage_metric": ""}"#,
        )
        .expect("shape")
        .build()
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["provider_name", "model_span_names[1]", "token_usage_metric"]
        );
        assert!(serde_json::from_str::<GenAiConfig>(r#"{"provider": "openai"}"#).is_err());
        assert!(serde_json::from_str::<GenAiConfig>(r#"{"usages": true}"#).is_err());
        assert_eq!(
            serde_json::from_str::<GenAiConfig>("{}").expect("empty"),
            GenAiConfig::default()
        );
    }
}
