//! `codex_anomaly` processor: watches each Codex conversation (`conversation.id`) in the logs and
//! raises an alert — a new log record `codex.gateway.alert` in the same request — when a session
//! runs away, loops on failing tools, gets a watched tool approved by policy, hits a burst of
//! API errors, or exhausts the model's context window.
//!
//! Place in the flow: logs pipeline, after `codex` (typed values, real event names), `redaction`
//! and `team` (so the alert can carry `team` / `project`), before `filter` (do not filter out
//! `codex.gateway.alert`) and the exporters. It keeps state per conversation, so — like
//! `delta_to_cumulative` — one gateway must see all the logs of a conversation (one Codex
//! process sends them all to one endpoint, so a sticky route per client is enough).
//!
//! ```yaml
//! codex_anomaly:
//!   max_conversations: 10000   # tracked at once; records of new ones beyond it are not checked
//!   max_idle: 1h               # a conversation silent this long (wall clock) is forgotten
//!   skip_replayed: true        # ignore records at or before what was already seen (re-sent batches)
//!   copy_attributes: [team, project]
//!   runaway_session: { enabled: true, max_tokens: 2000000 }
//!   tool_failure_loop:
//!     enabled: true
//!     consecutive_failures: 5
//!     output_regex: "Process exited with code -?[1-9]"
//!   tool_decision:
//!     enabled: true
//!     watch_tools: [exec_command]      # default: none
//!     approved_sources: [config]       # case-insensitive; default [config]
//!     alert_on_denied: false
//!   api_error_burst: { enabled: true, errors: 3, window: 1m }
//!   context_window:
//!     enabled: true
//!     regex: "(?i)ran out of room in the model's context window|context_length_exceeded|context window exceeded"
//! ```
//!
//! (In the gateway's YAML, `${...}` is environment expansion: write a regex containing `${` as
//! `$${`.)
//!
//! The detectors, each with its `alert.kind`:
//! - `runaway_session`: the tokens of a conversation — `input_token_count + output_token_count`
//!   summed over its `codex.sse_event` `response.completed` records — exceed `max_tokens`.
//!   Evidence: `alert.tokens`, `alert.threshold`.
//! - `tool_failure_loop`: `consecutive_failures` failed `codex.tool_result` records in a row. A
//!   result fails when `success` is false **or** its `output` matches `output_regex` (Codex
//!   0.169.0 reports `success = "true"` for commands that exit non-zero; the output says
//!   `Process exited with code 1`); any other result resets the streak. Evidence:
//!   `alert.consecutive_failures`, `alert.threshold`, `tool_name`.
//! - `tool_decision`: a `codex.tool_decision` whose `decision` starts with `approved` and whose
//!   `source` is one of `approved_sources` (case-insensitive), for a tool in `watch_tools`; and,
//!   with `alert_on_denied`, any decision `denied` or `abort`. Evidence: `tool_name`,
//!   `decision`, `source`.
//! - `api_error_burst`: `errors` failed `codex.api_request` records (status code at least 400
//!   in `http.response.status_code`, or a non-empty `error.message`) within `window`, by record time. Evidence:
//!   `alert.errors`, `alert.window_ms`, `alert.threshold`, `http.response.status_code`.
//! - `context_window`: any record whose `error.message` matches `regex` (default: Codex's
//!   "Codex ran out of room in the model's context window. …" and the API's
//!   `context_length_exceeded`). Evidence: `alert.source_event`.
//!
//! Each kind fires **once per conversation**. The alert record: `event_name` and attribute
//! `event.name` = `codex.gateway.alert`, severity `WARN` (13), a short body, attributes
//! `alert.kind`, `conversation.id`, the `copy_attributes` found on the triggering record or its
//! resource, and the evidence; its time is the triggering record's (`time_unix_nano`, else
//! `observed_time_unix_nano`), its trace and span ids too. It is put under the **same resource**
//! as the triggering record, in a dedicated scope `codex-otel-gateway/codex_anomaly` (so it keeps
//! `service.name`, `team` and the rest of the resource, while filters and dashboards can tell
//! gateway records from Codex's). Records without `conversation.id` and earlier alerts are not
//! checked.
//!
//! Time: windows use record time (a client's clock); expiry uses the gateway's monotonic clock
//! ([`Clock`]), so a client with a wrong clock cannot expire state. Replays: with
//! `skip_replayed`, a record whose `observed_time_unix_nano` (else `time_unix_nano`) is not
//! after the latest one of its conversation seen in an **earlier** request is skipped and
//! counted — a re-sent batch neither fires again nor counts its tokens twice (older batches
//! arriving late are skipped as well).
//!
//! Counted: `alerts{label=<kind>}`; `codex_anomaly{label=max_conversations}` (records of new
//! conversations not checked because the bound was reached), `{label=expired}` (conversations
//! forgotten after `max_idle`), `{label=replayed}` (records skipped).

use crate::clock::{Clock, SystemClock};
use crate::codex_event::{
    bool_attr, count_attr, event_name, int_attr, is_response_completed, kv, str_attr, API_REQUEST,
    TOOL_DECISION, TOOL_RESULT,
};
use crate::units::deserialize_duration;
use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use regex::Regex;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Event name of the alert records.
pub const ALERT_EVENT: &str = "codex.gateway.alert";
/// Scope name of the alert records.
pub const ALERT_SCOPE: &str = "codex-otel-gateway/codex_anomaly";
/// Default `tool_failure_loop.output_regex`: Codex's line for a command that exited non-zero.
pub const DEFAULT_FAILURE_OUTPUT_REGEX: &str = "Process exited with code -?[1-9]";
/// Default `context_window.regex`: Codex's context-window error ("Codex ran out of room in the
/// model's context window. Start a new conversation or clear earlier history before
/// retrying.") and the API's error code.
pub const DEFAULT_CONTEXT_WINDOW_REGEX: &str =
    "(?i)ran out of room in the model's context window|context_length_exceeded|context window exceeded";
/// Longest time between two sweeps for idle conversations (while requests arrive).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Config of the `codex_anomaly` processor. Every detector is on by default (`tool_decision`
/// does nothing until `watch_tools` or `alert_on_denied` is set).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodexAnomalyConfig {
    /// Most conversations tracked at once; records of a new conversation beyond it are not
    /// checked (and counted) until idle ones expire. At least 1. Default: `10000`.
    pub max_conversations: usize,
    /// A conversation without records for this long (gateway clock) is forgotten; its next
    /// record starts it over (and it may alert again). Default: `1h`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_idle: Duration,
    /// Skip records not newer than what an earlier request of the same conversation carried.
    /// Default: `true`.
    pub skip_replayed: bool,
    /// Attributes copied onto alerts from the triggering record, else from its resource.
    /// Default: `[team, project]`.
    pub copy_attributes: Vec<String>,
    /// `runaway_session` detector.
    pub runaway_session: RunawaySessionConfig,
    /// `tool_failure_loop` detector.
    pub tool_failure_loop: ToolFailureLoopConfig,
    /// `tool_decision` detector.
    pub tool_decision: ToolDecisionConfig,
    /// `api_error_burst` detector.
    pub api_error_burst: ApiErrorBurstConfig,
    /// `context_window` detector.
    pub context_window: ContextWindowConfig,
}

impl Default for CodexAnomalyConfig {
    fn default() -> Self {
        CodexAnomalyConfig {
            max_conversations: 10_000,
            max_idle: Duration::from_secs(3600),
            skip_replayed: true,
            copy_attributes: vec!["team".to_string(), "project".to_string()],
            runaway_session: RunawaySessionConfig::default(),
            tool_failure_loop: ToolFailureLoopConfig::default(),
            tool_decision: ToolDecisionConfig::default(),
            api_error_burst: ApiErrorBurstConfig::default(),
            context_window: ContextWindowConfig::default(),
        }
    }
}

/// `runaway_session`: too many tokens in one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunawaySessionConfig {
    /// Whether the detector runs. Default: `true`.
    pub enabled: bool,
    /// Alert when input + output tokens of the conversation exceed this. At least 1. Default:
    /// `2000000`.
    pub max_tokens: u64,
}

impl Default for RunawaySessionConfig {
    fn default() -> Self {
        RunawaySessionConfig {
            enabled: true,
            max_tokens: 2_000_000,
        }
    }
}

/// `tool_failure_loop`: failed tool calls in a row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolFailureLoopConfig {
    /// Whether the detector runs. Default: `true`.
    pub enabled: bool,
    /// Failed `codex.tool_result` records in a row that raise the alert. At least 1. Default: `5`.
    pub consecutive_failures: u32,
    /// A result whose `output` matches this (unanchored) failed, whatever `success` says.
    /// Empty: only `success = false` counts. Default: [`DEFAULT_FAILURE_OUTPUT_REGEX`].
    pub output_regex: String,
}

impl Default for ToolFailureLoopConfig {
    fn default() -> Self {
        ToolFailureLoopConfig {
            enabled: true,
            consecutive_failures: 5,
            output_regex: DEFAULT_FAILURE_OUTPUT_REGEX.to_string(),
        }
    }
}

/// `tool_decision`: approval policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolDecisionConfig {
    /// Whether the detector runs. Default: `true`.
    pub enabled: bool,
    /// Tools (`tool_name`, exact) whose approval by one of `approved_sources` alerts. Default:
    /// none.
    pub watch_tools: Vec<String>,
    /// Approval sources (`source`, case-insensitive: Codex sends `Config`, `User`, ...) that
    /// alert for watched tools. Default: `[config]`.
    pub approved_sources: Vec<String>,
    /// Also alert on any `denied` or `abort` decision, for any tool. Default: `false`.
    pub alert_on_denied: bool,
}

impl Default for ToolDecisionConfig {
    fn default() -> Self {
        ToolDecisionConfig {
            enabled: true,
            watch_tools: Vec::new(),
            approved_sources: vec!["config".to_string()],
            alert_on_denied: false,
        }
    }
}

/// `api_error_burst`: failed model API requests close together.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiErrorBurstConfig {
    /// Whether the detector runs. Default: `true`.
    pub enabled: bool,
    /// Failed `codex.api_request` records that raise the alert. At least 1. Default: `3`.
    pub errors: u32,
    /// ... when they fall within this span of record time. More than zero. Default: `1m`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub window: Duration,
}

impl Default for ApiErrorBurstConfig {
    fn default() -> Self {
        ApiErrorBurstConfig {
            enabled: true,
            errors: 3,
            window: Duration::from_secs(60),
        }
    }
}

/// `context_window`: the model's context window was exceeded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextWindowConfig {
    /// Whether the detector runs. Default: `true`.
    pub enabled: bool,
    /// Regex on `error.message` (unanchored). Default: [`DEFAULT_CONTEXT_WINDOW_REGEX`].
    pub regex: String,
}

impl Default for ContextWindowConfig {
    fn default() -> Self {
        ContextWindowConfig {
            enabled: true,
            regex: DEFAULT_CONTEXT_WINDOW_REGEX.to_string(),
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Too many tokens in one conversation.
    RunawaySession,
    /// Failed tool calls in a row.
    ToolFailureLoop,
    /// A tool decision the policy flags.
    ToolDecision,
    /// Failed API requests close together.
    ApiErrorBurst,
    /// The context window was exceeded.
    ContextWindow,
}

impl AlertKind {
    /// The `alert.kind` value (and counter label).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RunawaySession => "runaway_session",
            AlertKind::ToolFailureLoop => "tool_failure_loop",
            AlertKind::ToolDecision => "tool_decision",
            AlertKind::ApiErrorBurst => "api_error_burst",
            AlertKind::ContextWindow => "context_window",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What is known of one conversation.
#[derive(Debug)]
struct Conversation {
    last_seen: Instant,
    /// Latest record time (replay key) of earlier requests.
    watermark: u64,
    tokens: u64,
    streak: u32,
    /// Times of the latest failed API requests, at most `errors` of them.
    api_errors: VecDeque<u64>,
    /// Kinds that fired (bits of [`AlertKind::bit`]).
    fired: u8,
}

impl Conversation {
    fn new(now: Instant) -> Self {
        Conversation {
            last_seen: now,
            watermark: 0,
            tokens: 0,
            streak: 0,
            api_errors: VecDeque::new(),
            fired: 0,
        }
    }
}

#[derive(Debug)]
struct State {
    conversations: HashMap<String, Conversation>,
    last_sweep: Instant,
}

/// Built detectors.
#[derive(Debug)]
struct Detectors {
    runaway: Option<u64>,
    failures: Option<(u32, Option<Regex>)>,
    decision: Option<ToolDecisionConfig>,
    api_errors: Option<(u32, u64)>,
    context: Option<Regex>,
}

/// The built `codex_anomaly` processor: holds the state of every tracked conversation.
pub struct CodexAnomalyProcessor {
    max_conversations: usize,
    max_idle: Duration,
    skip_replayed: bool,
    copy_attributes: Vec<String>,
    detectors: Detectors,
    clock: Box<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for CodexAnomalyProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodexAnomalyProcessor")
            .field("max_conversations", &self.max_conversations)
            .field("max_idle", &self.max_idle)
            .field("detectors", &self.detectors)
            .finish_non_exhaustive()
    }
}

fn compile(path: &str, pattern: &str, errors: &mut Vec<BuildError>) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            errors.push(BuildError::field(path, format!("invalid regex: {e}")));
            None
        }
    }
}

impl CodexAnomalyConfig {
    /// Checks the config and builds the processor on the system clock.
    pub fn build(&self) -> Result<CodexAnomalyProcessor, Vec<BuildError>> {
        self.build_with_clock(SystemClock)
    }

    /// Checks the config and builds the processor on `clock` (tests, simulations).
    pub fn build_with_clock(
        &self,
        clock: impl Clock,
    ) -> Result<CodexAnomalyProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        self.check_bounds(&mut errors);
        let detectors = Detectors {
            runaway: self.runaway_session.build(&mut errors),
            failures: self.tool_failure_loop.build(&mut errors),
            decision: self.tool_decision.build(&mut errors),
            api_errors: self.api_error_burst.build(&mut errors),
            context: self.context_window.build(&mut errors),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let now = clock.now();
        Ok(CodexAnomalyProcessor {
            max_conversations: self.max_conversations,
            max_idle: self.max_idle,
            skip_replayed: self.skip_replayed,
            copy_attributes: self.copy_attributes.clone(),
            detectors,
            clock: Box::new(clock),
            state: Mutex::new(State {
                conversations: HashMap::new(),
                last_sweep: now,
            }),
        })
    }

    /// Checks the settings shared by every detector.
    fn check_bounds(&self, errors: &mut Vec<BuildError>) {
        if self.max_conversations == 0 {
            errors.push(BuildError::field("max_conversations", "must be at least 1"));
        }
        if self.max_idle.is_zero() {
            errors.push(BuildError::field("max_idle", "must be more than zero"));
        }
        for (i, k) in self.copy_attributes.iter().enumerate() {
            if k.is_empty() {
                errors.push(BuildError::field(
                    format!("copy_attributes[{i}]"),
                    "empty key",
                ));
            }
        }
    }
}

impl RunawaySessionConfig {
    /// The token threshold when enabled; problems go to `errors`.
    fn build(&self, errors: &mut Vec<BuildError>) -> Option<u64> {
        if self.enabled && self.max_tokens == 0 {
            errors.push(BuildError::field(
                "runaway_session.max_tokens",
                "must be at least 1",
            ));
        }
        self.enabled.then_some(self.max_tokens)
    }
}

impl ToolFailureLoopConfig {
    /// The streak length and output regex when enabled; problems go to `errors`.
    fn build(&self, errors: &mut Vec<BuildError>) -> Option<(u32, Option<Regex>)> {
        if !self.enabled {
            return None;
        }
        if self.consecutive_failures == 0 {
            errors.push(BuildError::field(
                "tool_failure_loop.consecutive_failures",
                "must be at least 1",
            ));
        }
        let output_re = if self.output_regex.is_empty() {
            None
        } else {
            compile("tool_failure_loop.output_regex", &self.output_regex, errors)
        };
        Some((self.consecutive_failures, output_re))
    }
}

impl ToolDecisionConfig {
    /// The policy when enabled; problems go to `errors`.
    fn build(&self, errors: &mut Vec<BuildError>) -> Option<ToolDecisionConfig> {
        if !self.enabled {
            return None;
        }
        for (field, list) in [
            ("watch_tools", &self.watch_tools),
            ("approved_sources", &self.approved_sources),
        ] {
            for (i, v) in list.iter().enumerate() {
                if v.is_empty() {
                    errors.push(BuildError::field(
                        format!("tool_decision.{field}[{i}]"),
                        "must not be empty",
                    ));
                }
            }
        }
        Some(self.clone())
    }
}

impl ApiErrorBurstConfig {
    /// The error count and window (ns) when enabled; problems go to `errors`.
    fn build(&self, errors: &mut Vec<BuildError>) -> Option<(u32, u64)> {
        if !self.enabled {
            return None;
        }
        if self.errors == 0 {
            errors.push(BuildError::field(
                "api_error_burst.errors",
                "must be at least 1",
            ));
        }
        if self.window.is_zero() {
            errors.push(BuildError::field(
                "api_error_burst.window",
                "must be more than zero",
            ));
        }
        Some((
            self.errors,
            u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX),
        ))
    }
}

impl ContextWindowConfig {
    /// The `error.message` regex when enabled; problems go to `errors`.
    fn build(&self, errors: &mut Vec<BuildError>) -> Option<Regex> {
        if !self.enabled {
            return None;
        }
        if self.regex.is_empty() {
            errors.push(BuildError::field(
                "context_window.regex",
                "must not be empty",
            ));
            return None;
        }
        compile("context_window.regex", &self.regex, errors)
    }
}

/// One alert to add: the triggering record's resource (index) and the new record.
struct Pending {
    resource: usize,
    kind: AlertKind,
    record: LogRecord,
}

/// The time of a record in ns since the epoch: `time_unix_nano`, else `observed_time_unix_nano`,
/// else its `event.timestamp` attribute; 0 if none.
fn record_time(lr: &LogRecord) -> u64 {
    if lr.time_unix_nano != 0 {
        return lr.time_unix_nano;
    }
    if lr.observed_time_unix_nano != 0 {
        return lr.observed_time_unix_nano;
    }
    str_attr(&lr.attributes, "event.timestamp")
        .and_then(crate::codex::parse_rfc3339_nanos)
        .unwrap_or(0)
}

fn wall_now() -> u64 {
    crate::clock::unix_nanos()
}

fn int(v: u64) -> Value {
    Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX))
}

impl CodexAnomalyProcessor {
    /// Number of conversations tracked now.
    pub fn conversation_count(&self) -> usize {
        self.lock().conversations.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock is recovered: the state is consistent between records.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets conversations idle for longer than `max_idle`; returns how many.
    fn sweep(&self, state: &mut State, now: Instant) -> u64 {
        let before = state.conversations.len();
        let max_idle = self.max_idle;
        state
            .conversations
            .retain(|_, c| now.saturating_duration_since(c.last_seen) <= max_idle);
        state.last_sweep = now;
        (before - state.conversations.len()) as u64
    }

    /// The alert record for `kind` triggered by `lr` (under a resource with `resource` attrs).
    fn alert(
        &self,
        kind: AlertKind,
        conversation: &str,
        lr: &LogRecord,
        resource: &[KeyValue],
        evidence: Vec<KeyValue>,
        summary: String,
    ) -> LogRecord {
        let mut attributes = vec![
            kv("event.name", Value::StringValue(ALERT_EVENT.to_string())),
            kv("alert.kind", Value::StringValue(kind.as_str().to_string())),
            kv(
                "conversation.id",
                Value::StringValue(conversation.to_string()),
            ),
        ];
        for key in &self.copy_attributes {
            let found =
                crate::find_attr(&lr.attributes, key).or_else(|| crate::find_attr(resource, key));
            if let Some(v) = found {
                attributes.push(kv(key, v.clone()));
            }
        }
        attributes.extend(evidence);
        let t = record_time(lr);
        let now = wall_now();
        LogRecord {
            time_unix_nano: if t != 0 { t } else { now },
            observed_time_unix_nano: now,
            severity_number: SeverityNumber::Warn as i32,
            severity_text: "WARN".to_string(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(summary)),
            }),
            attributes,
            trace_id: lr.trace_id.clone(),
            span_id: lr.span_id.clone(),
            event_name: ALERT_EVENT.to_string(),
            ..Default::default()
        }
    }

    /// Runs every detector over one record of `conv`; returns the alerts it raises.
    fn check(
        &self,
        conv: &mut Conversation,
        id: &str,
        lr: &LogRecord,
        resource: &[KeyValue],
    ) -> Vec<(AlertKind, LogRecord)> {
        let d = &self.detectors;
        let mut alerts = Alerts {
            processor: self,
            id,
            lr,
            name: event_name(lr),
            resource,
            out: Vec::new(),
        };
        if let Some(max) = d.runaway {
            alerts.runaway_session(conv, max);
        }
        if let Some((n, re)) = &d.failures {
            alerts.tool_failure_loop(conv, *n, re.as_ref());
        }
        if let Some(policy) = &d.decision {
            alerts.tool_decision(conv, policy);
        }
        if let Some((n, window)) = d.api_errors {
            alerts.api_error_burst(conv, n, window);
        }
        if let Some(re) = &d.context {
            alerts.context_window(conv, re);
        }
        alerts.out
    }

    /// Checks the records of `req` under the state lock; returns the alerts to add.
    fn check_request(&self, req: &ExportLogsServiceRequest, run: &mut Run) -> Vec<Pending> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut state = self.lock();
        if run.now.saturating_duration_since(state.last_sweep) >= SWEEP_INTERVAL {
            run.expired += self.sweep(&mut state, run.now);
        }
        // Latest replay key per conversation in this request, applied at the end.
        let mut latest: HashMap<&str, u64> = HashMap::new();
        for (ri, rl) in req.resource_logs.iter().enumerate() {
            let resource: &[KeyValue] = rl
                .resource
                .as_ref()
                .map(|r| &r.attributes[..])
                .unwrap_or(&[]);
            for lr in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                if event_name(lr) == ALERT_EVENT {
                    continue;
                }
                let Some(id) = str_attr(&lr.attributes, "conversation.id") else {
                    continue;
                };
                let Some(conv) = self.tracked(&mut state, id, run) else {
                    continue;
                };
                let key = if lr.observed_time_unix_nano != 0 {
                    lr.observed_time_unix_nano
                } else {
                    lr.time_unix_nano
                };
                if self.skip_replayed && key != 0 && key <= conv.watermark {
                    run.replayed += 1;
                    continue;
                }
                let e = latest.entry(id).or_insert(0);
                *e = (*e).max(key);
                for (kind, record) in self.check(conv, id, lr, resource) {
                    pending.push(Pending {
                        resource: ri,
                        kind,
                        record,
                    });
                }
            }
        }
        for (id, key) in latest {
            if let Some(conv) = state.conversations.get_mut(id) {
                conv.watermark = conv.watermark.max(key);
            }
        }
        pending
    }

    /// The state of conversation `id`, seen now: started if new (unless `max_conversations`
    /// are tracked even after a sweep: `None`, counted), started over if idle too long.
    fn tracked<'s>(
        &self,
        state: &'s mut State,
        id: &str,
        run: &mut Run,
    ) -> Option<&'s mut Conversation> {
        let now = run.now;
        if !state.conversations.contains_key(id) {
            if state.conversations.len() >= self.max_conversations {
                run.expired += self.sweep(state, now);
            }
            if state.conversations.len() >= self.max_conversations {
                run.overflow += 1;
                return None;
            }
            state
                .conversations
                .insert(id.to_string(), Conversation::new(now));
        }
        let conv = state.conversations.get_mut(id)?;
        if now.saturating_duration_since(conv.last_seen) > self.max_idle {
            *conv = Conversation::new(now);
            run.expired += 1;
        }
        conv.last_seen = now;
        Some(conv)
    }
}

/// One `process_logs` call: the gateway time it runs at and what it skipped or forgot.
struct Run {
    now: Instant,
    overflow: u64,
    replayed: u64,
    expired: u64,
}

impl Run {
    /// Counts the skipped records and forgotten conversations.
    fn count(&self, cx: &mut ProcessContext<'_>) {
        for (label, n) in [
            ("max_conversations", self.overflow),
            ("replayed", self.replayed),
            ("expired", self.expired),
        ] {
            if n > 0 {
                cx.count("codex_anomaly", label, n);
            }
        }
    }
}

/// The alerts one record raises, with what building them needs; one method per detector.
struct Alerts<'a> {
    processor: &'a CodexAnomalyProcessor,
    /// The conversation id.
    id: &'a str,
    /// The record checked, its event name and its resource's attributes.
    lr: &'a LogRecord,
    name: &'a str,
    resource: &'a [KeyValue],
    out: Vec<(AlertKind, LogRecord)>,
}

impl Alerts<'_> {
    /// Raises `kind` unless it already fired for `conv`.
    fn fire(
        &mut self,
        conv: &mut Conversation,
        kind: AlertKind,
        evidence: Vec<KeyValue>,
        summary: String,
    ) {
        if conv.fired & kind.bit() == 0 {
            conv.fired |= kind.bit();
            let record =
                self.processor
                    .alert(kind, self.id, self.lr, self.resource, evidence, summary);
            self.out.push((kind, record));
        }
    }

    /// `runaway_session`: adds the tokens of a completed response; alerts above `max`.
    fn runaway_session(&mut self, conv: &mut Conversation, max: u64) {
        if !is_response_completed(self.lr) {
            return;
        }
        let attrs = &self.lr.attributes;
        let used = count_attr(attrs, "input_token_count")
            .unwrap_or(0)
            .saturating_add(count_attr(attrs, "output_token_count").unwrap_or(0));
        conv.tokens = conv.tokens.saturating_add(used);
        if conv.tokens > max {
            let tokens = conv.tokens;
            self.fire(
                conv,
                AlertKind::RunawaySession,
                vec![
                    kv("alert.tokens", int(tokens)),
                    kv("alert.threshold", int(max)),
                ],
                format!("runaway_session: {tokens} tokens in one conversation (threshold {max})"),
            );
        }
    }

    /// `tool_failure_loop`: counts failed tool results in a row; alerts at `n`.
    fn tool_failure_loop(&mut self, conv: &mut Conversation, n: u32, re: Option<&Regex>) {
        if self.name != TOOL_RESULT {
            return;
        }
        let attrs = &self.lr.attributes;
        let failed = bool_attr(attrs, "success") == Some(false)
            || re.is_some_and(|re| str_attr(attrs, "output").is_some_and(|o| re.is_match(o)));
        conv.streak = if failed {
            conv.streak.saturating_add(1)
        } else {
            0
        };
        if conv.streak >= n {
            let mut evidence = vec![
                kv("alert.consecutive_failures", int(u64::from(conv.streak))),
                kv("alert.threshold", int(u64::from(n))),
            ];
            if let Some(t) = str_attr(attrs, "tool_name") {
                evidence.push(kv("tool_name", Value::StringValue(t.to_string())));
            }
            let streak = conv.streak;
            self.fire(
                conv,
                AlertKind::ToolFailureLoop,
                evidence,
                format!("tool_failure_loop: {streak} failed tool calls in a row"),
            );
        }
    }

    /// `tool_decision`: alerts on a decision `policy` flags.
    fn tool_decision(&mut self, conv: &mut Conversation, policy: &ToolDecisionConfig) {
        if self.name != TOOL_DECISION {
            return;
        }
        let attrs = &self.lr.attributes;
        let decision = str_attr(attrs, "decision").unwrap_or("");
        let source = str_attr(attrs, "source").unwrap_or("");
        let tool = str_attr(attrs, "tool_name").unwrap_or("");
        let approved = decision
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("approved"));
        let denied =
            decision.eq_ignore_ascii_case("denied") || decision.eq_ignore_ascii_case("abort");
        let watched = approved
            && policy.watch_tools.iter().any(|t| t == tool)
            && policy
                .approved_sources
                .iter()
                .any(|s| s.eq_ignore_ascii_case(source));
        if watched || (policy.alert_on_denied && denied) {
            let evidence = vec![
                kv("tool_name", Value::StringValue(tool.to_string())),
                kv("decision", Value::StringValue(decision.to_string())),
                kv("source", Value::StringValue(source.to_string())),
            ];
            self.fire(
                conv,
                AlertKind::ToolDecision,
                evidence,
                format!("tool_decision: {tool} {decision} by {source}"),
            );
        }
    }

    /// `api_error_burst`: keeps the times of the last `n` failed API requests; alerts when they
    /// fall within `window` (ns).
    fn api_error_burst(&mut self, conv: &mut Conversation, n: u32, window: u64) {
        if self.name != API_REQUEST {
            return;
        }
        let attrs = &self.lr.attributes;
        let status = int_attr(attrs, "http.response.status_code");
        let failed = status.is_some_and(|s| s >= 400)
            || str_attr(attrs, "error.message").is_some_and(|m| !m.is_empty());
        if !failed {
            return;
        }
        conv.api_errors.push_back(record_time(self.lr));
        while conv.api_errors.len() > n as usize {
            conv.api_errors.pop_front();
        }
        let span = match (conv.api_errors.front(), conv.api_errors.back()) {
            (Some(a), Some(b)) => a.abs_diff(*b),
            _ => u64::MAX,
        };
        if conv.api_errors.len() == n as usize && span <= window {
            let mut evidence = vec![
                kv("alert.errors", int(u64::from(n))),
                kv("alert.window_ms", int(window / 1_000_000)),
                kv("alert.threshold", int(u64::from(n))),
            ];
            if let Some(s) = status {
                evidence.push(kv("http.response.status_code", Value::IntValue(s)));
            }
            self.fire(
                conv,
                AlertKind::ApiErrorBurst,
                evidence,
                format!(
                    "api_error_burst: {n} failed API requests within {} ms",
                    window / 1_000_000
                ),
            );
        }
    }

    /// `context_window`: alerts on an `error.message` matching `re`.
    fn context_window(&mut self, conv: &mut Conversation, re: &Regex) {
        if str_attr(&self.lr.attributes, "error.message").is_some_and(|m| re.is_match(m)) {
            let source = Value::StringValue(self.name.to_string());
            self.fire(
                conv,
                AlertKind::ContextWindow,
                vec![kv("alert.source_event", source)],
                "context_window: the model's context window was exceeded".to_string(),
            );
        }
    }
}

/// Adds an alert record to the alert scope of `rl` (created when missing).
fn push_alert(rl: &mut ResourceLogs, record: LogRecord) {
    let scope = match rl
        .scope_logs
        .iter()
        .position(|s| s.scope.as_ref().is_some_and(|s| s.name == ALERT_SCOPE))
    {
        Some(i) => i,
        None => {
            rl.scope_logs.push(ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: ALERT_SCOPE.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            rl.scope_logs.len() - 1
        }
    };
    rl.scope_logs[scope].log_records.push(record);
}

impl Processor for CodexAnomalyProcessor {
    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        let mut run = Run {
            now: self.clock.now(),
            overflow: 0,
            replayed: 0,
            expired: 0,
        };
        let pending = self.check_request(req, &mut run);
        for p in pending {
            cx.count("alerts", p.kind.as_str(), 1);
            if let Some(rl) = req.resource_logs.get_mut(p.resource) {
                push_alert(rl, p.record);
            }
        }
        run.count(cx);
    }
}

impl crate::Component for CodexAnomalyConfig {
    fn signals(&self) -> &'static [crate::Signal] {
        &[crate::Signal::Logs]
    }

    fn stateful(&self) -> bool {
        true
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::{find_attr, Metadata};
    use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;
    use std::sync::Arc;

    fn fixture(path: &str) -> ExportLogsServiceRequest {
        let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
        ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decode")
    }

    fn loop_logs() -> ExportLogsServiceRequest {
        fixture("failing-tool-loop-protobuf/005_logs.pb")
    }

    /// A config with only the detectors named in `json` (a map of detector → settings).
    fn only(json: &str) -> CodexAnomalyConfig {
        let mut v: serde_json::Value = serde_json::from_str(json).expect("json");
        let obj = v.as_object_mut().expect("object");
        for k in [
            "runaway_session",
            "tool_failure_loop",
            "tool_decision",
            "api_error_burst",
            "context_window",
        ] {
            obj.entry(k)
                .or_insert_with(|| serde_json::json!({"enabled": false}));
        }
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn build(json: &str) -> CodexAnomalyProcessor {
        only(json).build().expect("valid")
    }

    /// Runs the processor; returns the alert records it added and the counts.
    fn run(
        p: &CodexAnomalyProcessor,
        req: &mut ExportLogsServiceRequest,
    ) -> (Vec<LogRecord>, Vec<(String, String, u64)>) {
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(req, &mut cx);
        let alerts = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .filter(|s| s.scope.as_ref().is_some_and(|s| s.name == ALERT_SCOPE))
            .flat_map(|s| s.log_records.clone())
            .collect();
        let counts = cx
            .counts()
            .iter()
            .map(|(n, l, v)| (n.to_string(), l.clone(), *v))
            .collect();
        (alerts, counts)
    }

    fn s(v: &str) -> Value {
        Value::StringValue(v.into())
    }

    fn attr(lr: &LogRecord, key: &str) -> Option<Value> {
        find_attr(&lr.attributes, key).cloned()
    }

    const CONVERSATION: &str = "01a1fc6e-fa43-71b0-95bd-d025fbd0e34c";

    #[test]
    fn five_consecutive_failures_in_the_tool_loop_fire_exactly_one_alert() {
        let p = build(r#"{"tool_failure_loop": {"consecutive_failures": 5}}"#);
        let mut req = loop_logs();
        let before = req.resource_logs[0].scope_logs.len();
        let (alerts, counts) = run(&p, &mut req);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.event_name, ALERT_EVENT);
        assert_eq!(attr(a, "event.name"), Some(s(ALERT_EVENT)));
        assert_eq!(attr(a, "alert.kind"), Some(s("tool_failure_loop")));
        assert_eq!(attr(a, "conversation.id"), Some(s(CONVERSATION)));
        assert_eq!(
            attr(a, "alert.consecutive_failures"),
            Some(Value::IntValue(5))
        );
        assert_eq!(attr(a, "alert.threshold"), Some(Value::IntValue(5)));
        assert_eq!(attr(a, "tool_name"), Some(s("exec_command")));
        assert_eq!(a.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(a.severity_text, "WARN");
        // The fifth failing tool result (call_5) triggered it: its time is the alert's.
        let call5 = req.resource_logs[0]
            .scope_logs
            .iter()
            .flat_map(|s| &s.log_records)
            .find(|lr| {
                str_attr(&lr.attributes, "call_id") == Some("call_5")
                    && event_name(lr) == TOOL_RESULT
            })
            .expect("call_5");
        assert_eq!(a.time_unix_nano, call5.observed_time_unix_nano);
        // Same resource, one new scope.
        assert_eq!(req.resource_logs[0].scope_logs.len(), before + 1);
        assert_eq!(counts, [("alerts".into(), "tool_failure_loop".into(), 1)]);
    }

    #[test]
    fn seven_consecutive_failures_never_happen_in_the_tool_loop() {
        // Six failures (exit codes 101, 1, 1, 1, 1, 1), then exit code 0 resets the streak.
        let p = build(r#"{"tool_failure_loop": {"consecutive_failures": 7}}"#);
        let (alerts, counts) = run(&p, &mut loop_logs());
        assert!(alerts.is_empty());
        assert!(counts.is_empty());
        let p = build(r#"{"tool_failure_loop": {"consecutive_failures": 6}}"#);
        assert_eq!(run(&p, &mut loop_logs()).0.len(), 1);
        // Without the output regex only `success = false` counts, and Codex said "true".
        let p = build(r#"{"tool_failure_loop": {"consecutive_failures": 1, "output_regex": ""}}"#);
        assert!(run(&p, &mut loop_logs()).0.is_empty());
    }

    #[test]
    fn runaway_session_fires_once_above_the_token_threshold() {
        // Cumulative input + output after k responses: 93000k + k(k+1)/2; k = 6 → 558021.
        let p = build(r#"{"runaway_session": {"max_tokens": 500000}}"#);
        let (alerts, counts) = run(&p, &mut loop_logs());
        assert_eq!(alerts.len(), 1);
        assert_eq!(attr(&alerts[0], "alert.kind"), Some(s("runaway_session")));
        assert_eq!(
            attr(&alerts[0], "alert.tokens"),
            Some(Value::IntValue(558_021))
        );
        assert_eq!(
            attr(&alerts[0], "alert.threshold"),
            Some(Value::IntValue(500_000))
        );
        assert_eq!(counts, [("alerts".into(), "runaway_session".into(), 1)]);
        for (max, fires) in [(1_000_000, false), (744_036, false), (744_035, true)] {
            let p = build(&format!(
                r#"{{"runaway_session": {{"max_tokens": {max}}}}}"#
            ));
            let (alerts, _) = run(&p, &mut loop_logs());
            assert_eq!(alerts.len(), usize::from(fires), "max_tokens {max}");
            if fires {
                assert_eq!(
                    attr(&alerts[0], "alert.tokens"),
                    Some(Value::IntValue(744_036))
                );
            }
        }
    }

    #[test]
    fn replaying_the_same_request_neither_fires_again_nor_counts_tokens_twice() {
        let p = build(
            r#"{"runaway_session": {"max_tokens": 500000},
                "tool_failure_loop": {"consecutive_failures": 5}}"#,
        );
        let original = loop_logs();
        let (first, _) = run(&p, &mut original.clone());
        assert_eq!(first.len(), 2);
        // Replayed as received, and as it left this processor (with its alerts).
        let mut with_alerts = original.clone();
        run(&build(r#"{"tool_failure_loop": {}}"#), &mut with_alerts);
        let with_conversation = original.resource_logs[0]
            .scope_logs
            .iter()
            .flat_map(|s| &s.log_records)
            .filter(|lr| str_attr(&lr.attributes, "conversation.id").is_some())
            .count() as u64;
        assert_eq!(with_conversation, 68);
        for mut replay in [original.clone(), with_alerts] {
            let (again, counts) = run(&p, &mut replay);
            assert!(again.iter().all(|a| {
                // Only the alerts carried in the replayed request itself.
                str_attr(&a.attributes, "alert.kind") == Some("tool_failure_loop")
            }));
            assert_eq!(
                counts,
                [("codex_anomaly".into(), "replayed".into(), with_conversation)]
            );
        }
        // 1M is never crossed, however often the request is replayed.
        let p = build(r#"{"runaway_session": {"max_tokens": 1000000}}"#);
        for _ in 0..3 {
            assert!(run(&p, &mut original.clone()).0.is_empty());
        }
        // Without replay detection the tokens are counted again and the session "runs away".
        let p = build(r#"{"skip_replayed": false, "runaway_session": {"max_tokens": 1000000}}"#);
        assert!(run(&p, &mut original.clone()).0.is_empty());
        assert_eq!(run(&p, &mut original.clone()).0.len(), 1);
    }

    #[test]
    fn api_error_burst_fires_on_the_retried_requests_of_the_api_retries_session() {
        let p = build(r#"{"api_error_burst": {"errors": 2, "window": "1s"}}"#);
        let (alerts, counts) = run(&p, &mut fixture("api-retries-protobuf/004_logs.pb"));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(attr(a, "alert.kind"), Some(s("api_error_burst")));
        assert_eq!(attr(a, "alert.errors"), Some(Value::IntValue(2)));
        assert_eq!(attr(a, "alert.window_ms"), Some(Value::IntValue(1000)));
        assert_eq!(
            attr(a, "http.response.status_code"),
            Some(Value::IntValue(429))
        );
        assert_eq!(
            attr(a, "conversation.id"),
            Some(s("01a1fc6e-f1ef-7693-ad9c-9fa710ab79bf"))
        );
        assert_eq!(counts, [("alerts".into(), "api_error_burst".into(), 1)]);
        // Two errors 221 ms apart: not within 100 ms, and three are never reached.
        for cfg in [
            r#"{"api_error_burst": {"errors": 2, "window": "100ms"}}"#,
            r#"{"api_error_burst": {"errors": 3, "window": "1h"}}"#,
        ] {
            assert!(
                run(
                    &build(cfg),
                    &mut fixture("api-retries-protobuf/004_logs.pb")
                )
                .0
                .is_empty(),
                "{cfg}"
            );
        }
        // The successful session has no failed request.
        let p = build(r#"{"api_error_burst": {"errors": 1}}"#);
        assert!(run(&p, &mut loop_logs()).0.is_empty());
    }

    #[test]
    fn approved_by_config_for_a_watched_tool_fires_the_decision_policy_once() {
        let p = build(
            r#"{"tool_decision": {"watch_tools": ["exec_command"], "approved_sources": ["config"]}}"#,
        );
        let (alerts, counts) = run(&p, &mut loop_logs());
        assert_eq!(alerts.len(), 1, "seven decisions, one alert");
        let a = &alerts[0];
        assert_eq!(attr(a, "alert.kind"), Some(s("tool_decision")));
        assert_eq!(attr(a, "tool_name"), Some(s("exec_command")));
        assert_eq!(attr(a, "decision"), Some(s("approved")));
        assert_eq!(attr(a, "source"), Some(s("Config")));
        assert_eq!(counts, [("alerts".into(), "tool_decision".into(), 1)]);
        for cfg in [
            r#"{"tool_decision": {"watch_tools": ["exec_command"], "approved_sources": ["user"]}}"#,
            r#"{"tool_decision": {"watch_tools": ["apply_patch"]}}"#,
            r#"{"tool_decision": {"alert_on_denied": true}}"#,
            r#"{"tool_decision": {}}"#,
        ] {
            assert!(run(&build(cfg), &mut loop_logs()).0.is_empty(), "{cfg}");
        }
    }

    /// One resource with `team` / `project`, one conversation, records with these attributes.
    fn synthetic(records: Vec<Vec<KeyValue>>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("codex_exec")),
                        kv("team", s("payments")),
                        kv("project", s("checkout")),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut attributes)| {
                            attributes.push(kv("conversation.id", s("c1")));
                            LogRecord {
                                observed_time_unix_nano: 1_000 + i as u64,
                                attributes,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn context_window_error_fires_with_team_and_project_from_the_resource() {
        let message = "Codex ran out of room in the model's context window. Start a new \
                       conversation or clear earlier history before retrying.";
        let mut req = synthetic(vec![
            vec![
                kv("event.name", s("codex.api_request")),
                kv("error.message", s("http 500")),
            ],
            vec![
                kv("event.name", s("codex.api_request")),
                kv("error.message", s(message)),
            ],
            vec![
                kv("event.name", s("codex.sse_event")),
                kv("error.message", s(message)),
            ],
        ]);
        let p = build(r#"{"context_window": {}}"#);
        let (alerts, counts) = run(&p, &mut req);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(attr(a, "alert.kind"), Some(s("context_window")));
        assert_eq!(attr(a, "alert.source_event"), Some(s("codex.api_request")));
        assert_eq!(attr(a, "team"), Some(s("payments")));
        assert_eq!(attr(a, "project"), Some(s("checkout")));
        assert_eq!(a.time_unix_nano, 1_001);
        assert_eq!(counts, [("alerts".into(), "context_window".into(), 1)]);
    }

    #[test]
    fn conversations_are_bounded_and_expire_after_max_idle() {
        let clock = Arc::new(ManualClock::new());
        let p = only(r#"{"max_conversations": 1, "max_idle": "10m", "context_window": {}}"#)
            .build_with_clock(clock.clone())
            .expect("valid");
        let message = "context_length_exceeded";
        let request = |conv: &str, t: u64| {
            let mut r = synthetic(vec![vec![kv("error.message", s(message))]]);
            let lr = &mut r.resource_logs[0].scope_logs[0].log_records[0];
            lr.observed_time_unix_nano = t;
            lr.attributes.retain(|kv| kv.key != "conversation.id");
            lr.attributes.push(kv("conversation.id", s(conv)));
            r
        };
        let (alerts, _) = run(&p, &mut request("a", 1));
        assert_eq!(alerts.len(), 1);
        let (alerts, counts) = run(&p, &mut request("b", 2));
        assert!(alerts.is_empty());
        assert_eq!(
            counts,
            [("codex_anomaly".into(), "max_conversations".into(), 1)]
        );
        assert_eq!(p.conversation_count(), 1);
        clock.advance(Duration::from_secs(11 * 60));
        let (alerts, counts) = run(&p, &mut request("b", 3));
        assert_eq!(alerts.len(), 1, "room again once `a` expired");
        assert!(counts.contains(&("codex_anomaly".into(), "expired".into(), 1)));
        assert_eq!(p.conversation_count(), 1);
    }

    #[test]
    fn invalid_config_reports_field_paths() {
        let errs = serde_json::from_str::<CodexAnomalyConfig>(
            r#"{"max_conversations": 0, "max_idle": "0", "copy_attributes": [""],
                "runaway_session": {"max_tokens": 0},
                "tool_failure_loop": {"consecutive_failures": 0, "output_regex": "("},
                "tool_decision": {"watch_tools": [""]},
                "api_error_burst": {"errors": 0, "window": "0"},
                "context_window": {"regex": "["}}"#,
        )
        .expect("shape")
        .build()
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "max_conversations",
                "max_idle",
                "copy_attributes[0]",
                "runaway_session.max_tokens",
                "tool_failure_loop.consecutive_failures",
                "tool_failure_loop.output_regex",
                "tool_decision.watch_tools[0]",
                "api_error_burst.errors",
                "api_error_burst.window",
                "context_window.regex",
            ]
        );
        for bad in [
            r#"{"runaway": {}}"#,
            r#"{"api_error_burst": {"window": "soon"}}"#,
            r#"{"tool_decision": {"watch_tool": []}}"#,
        ] {
            assert!(
                serde_json::from_str::<CodexAnomalyConfig>(bad).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            serde_json::from_str::<CodexAnomalyConfig>("{}").expect("empty"),
            CodexAnomalyConfig::default()
        );
        CodexAnomalyConfig::default()
            .build()
            .expect("default builds");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn tool_failure_loop_fires_once_iff_a_long_enough_run_occurs(
                outcomes in proptest::collection::vec(0u8..3, 0..40),
                n in 1u32..6,
                split in 0usize..40,
            ) {
                // 0: success, 1: success = false, 2: success = "true" but a non-zero exit.
                let records: Vec<Vec<KeyValue>> = outcomes
                    .iter()
                    .map(|o| {
                        let (success, output) = match o {
                            0 => (s("true"), "Process exited with code 0"),
                            1 => (Value::BoolValue(false), ""),
                            _ => (s("true"), "Process exited with code 2"),
                        };
                        vec![
                            kv("event.name", s(TOOL_RESULT)),
                            kv("success", success),
                            kv("output", s(output)),
                        ]
                    })
                    .collect();
                let mut longest = 0u32;
                let mut run_len = 0u32;
                for o in &outcomes {
                    run_len = if *o == 0 { 0 } else { run_len + 1 };
                    longest = longest.max(run_len);
                }
                let p = build(&format!(r#"{{"tool_failure_loop": {{"consecutive_failures": {n}}}}}"#));
                // Delivered in two requests: the streak carries over.
                let mut all = synthetic(records);
                let cut = split.min(all.resource_logs[0].scope_logs[0].log_records.len());
                let tail = all.resource_logs[0].scope_logs[0].log_records.split_off(cut);
                let mut second = all.clone();
                second.resource_logs[0].scope_logs[0].log_records = tail;
                let alerts = run(&p, &mut all).0.len() + run(&p, &mut second).0.len();
                prop_assert_eq!(alerts, usize::from(longest >= n));
            }
        }
    }
}
