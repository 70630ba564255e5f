//! A scripted stand-in for the Responses API that Codex talks to, so the real Codex CLI can run a
//! whole session offline.
//!
//! Point a Codex model provider (`wire_api = "responses"`) at [`MockLlm::base_url`]. Every
//! `POST …/responses` is answered with a server-sent-event stream, the way the real API streams:
//!
//! * `response.created`;
//! * for model step `n` (counted from the `function_call_output` items Codex sends back in the
//!   request's `input`): while `n <= tool_calls.len()`, one `function_call` item running the
//!   `n`-th shell command through whichever shell tool the request offers (`exec_command`, with
//!   `yield_time_ms` 30 s, `shell_command` or `shell`), otherwise the final assistant message
//!   (`output_item.added`, `output_text.delta`, `output_item.done`);
//! * `response.completed` with token usage from [`Script::usage`] (input tokens grow by one per
//!   step, so each step's usage is distinct).
//!
//! Before the first successful answer the statuses in [`Script::fail_first`] are returned, one per
//! request (a 429 carries `retry-after: 0`), to exercise Codex's retry telemetry. Any `GET` returns
//! an empty model list, any other `POST` returns `{}`.
//!
//! Codex (0.171.0; 0.169.0 asks too) `POST`s `…/analytics/codex/turn-costs` with
//! `{"turn_ids": [...]}` to learn what a turn cost, as OpenAI's backend answers for API-key
//! accounts; with [`Script::turn_cost_usd`] set every asked turn is answered `priced` at that
//! price (Codex then exports `codex.turn.cost_microusd` and a `codex.turn_cost` event, about 150 s
//! after the turn: it polls on that interval), otherwise `{}`.
//!
//! The server records the bodies of the `…/responses` requests it received, so a test can check
//! that the prompt (or a tool's output) reached the model. Dropping the [`MockLlm`] stops it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Token usage reported in every `response.completed` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens of the first step; step `n` reports `input + n`.
    pub input: u64,
    /// Cached input tokens.
    pub cached: u64,
    /// Output tokens.
    pub output: u64,
    /// Reasoning tokens (part of the output tokens).
    pub reasoning: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            input: 1200,
            cached: 1000,
            output: 42,
            reasoning: 7,
        }
    }
}

/// What the scripted model does during one Codex session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// One shell command per model step, run through Codex's shell tool, in order.
    pub tool_calls: Vec<String>,
    /// Text of the last assistant message, sent once every tool call has been answered.
    pub final_text: String,
    /// HTTP statuses returned (one per request) before the first successful answer.
    pub fail_first: Vec<u16>,
    /// Token usage reported in every `response.completed`.
    pub usage: Usage,
    /// The price (a decimal USD string, as OpenAI's backend sends it) of every turn Codex asks
    /// `…/analytics/codex/turn-costs` about; `None` answers `{}` (no price).
    pub turn_cost_usd: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            tool_calls: Vec::new(),
            final_text: "Done.".to_owned(),
            fail_first: Vec::new(),
            usage: Usage::default(),
            turn_cost_usd: None,
        }
    }
}

impl Script {
    /// A script that runs `commands` one per step, then answers `final_text`.
    pub fn with_tool_calls<I, S>(commands: I, final_text: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tool_calls: commands.into_iter().map(Into::into).collect(),
            final_text: final_text.to_owned(),
            ..Self::default()
        }
    }
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// HTTP method.
    pub method: Method,
    /// Path and query, e.g. `/v1/responses`.
    pub path: String,
    /// Raw request body.
    pub body: Bytes,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Script>,
    failures_sent: AtomicUsize,
    responses_requests: AtomicUsize,
    received: Mutex<Vec<ReceivedRequest>>,
}

/// A running scripted Responses-API server on `127.0.0.1`; stops when dropped.
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl MockLlm {
    /// Binds `127.0.0.1:0` and starts serving `script`.
    pub async fn start(script: Script) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            ..Shared::default()
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind mock LLM listener");
        let addr = listener.local_addr().expect("mock LLM local addr");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("mock LLM server stopped: {err}");
            }
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The provider base URL to give Codex: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many `POST …/responses` requests (model calls, scripted failures included) arrived.
    pub fn requests(&self) -> usize {
        self.shared.responses_requests.load(Ordering::SeqCst)
    }

    /// How many requests whose path ends with `suffix` arrived (e.g. `/turn-costs`).
    pub fn requests_to(&self, suffix: &str) -> usize {
        self.handle().requests_to(suffix)
    }

    /// A handle that can count requests from another thread.
    pub fn handle(&self) -> LlmHandle {
        LlmHandle(Arc::clone(&self.shared))
    }

    /// Every request received so far, in arrival order (model-list `GET`s included).
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The JSON bodies of the `POST …/responses` requests received so far, in arrival order.
    /// A body that is not JSON (e.g. compressed) is kept as a JSON string of its lossy UTF-8.
    pub fn bodies(&self) -> Vec<Value> {
        self.shared
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == Method::POST && r.path.ends_with("/responses"))
            .map(|r| {
                serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&r.body).into_owned())
                })
            })
            .collect()
    }

    /// Whether any `POST …/responses` body contains `needle` (e.g. the user prompt).
    pub fn saw_text(&self, needle: &str) -> bool {
        self.shared
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with("/responses"))
            .any(|r| String::from_utf8_lossy(&r.body).contains(needle))
    }

    /// Replaces the script (for the next session); the scripted failures start over.
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
        self.shared.failures_sent.store(0, Ordering::SeqCst);
    }
}

/// Counts a [`MockLlm`]'s requests from another thread (see [`MockLlm::handle`]).
pub struct LlmHandle(Arc<Shared>);

impl LlmHandle {
    /// How many requests whose path ends with `suffix` arrived.
    pub fn requests_to(&self, suffix: &str) -> usize {
        self.0
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    let is_responses =
        method == Method::POST && uri.path().trim_end_matches('/').ends_with("/responses");
    shared.received.lock().unwrap().push(ReceivedRequest {
        method: method.clone(),
        path,
        body: body.clone(),
    });
    if method == Method::GET {
        return json_reply(StatusCode::OK, &json!({"data": [], "models": []}));
    }
    if !is_responses {
        let script = shared.script.lock().unwrap().clone();
        return match &script.turn_cost_usd {
            Some(usd) if uri.path().ends_with("/turn-costs") => {
                let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                json_reply(StatusCode::OK, &turn_costs(&asked, usd, &shared))
            }
            _ => json_reply(StatusCode::OK, &json!({})),
        };
    }
    shared.responses_requests.fetch_add(1, Ordering::SeqCst);
    let script = shared.script.lock().unwrap().clone();

    if let Some(status) = next_failure(&shared, &script) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut reply = json_reply(
            status,
            &json!({"error": {"message": "scripted failure", "type": "server_error"}}),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            reply
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
        }
        return reply;
    }

    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let events = sse_events(&script, &request);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        events,
    )
        .into_response()
}

/// The `turn-costs` answer: every asked turn `priced` at `usd`, covering every model response
/// served so far (Codex waits until the backend has priced all responses it saw).
fn turn_costs(asked: &Value, usd: &str, shared: &Shared) -> Value {
    let responses = shared.responses_requests.load(Ordering::SeqCst);
    let turns: Vec<Value> = asked["turn_ids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|id| {
            json!({
                "turn_id": id,
                "status": "priced",
                "total_usd": usd,
                "event_count": responses,
                "model": MODEL,
                "speed": "standard",
                "reasoning_effort": "medium",
            })
        })
        .collect();
    json!({ "turns": turns })
}

/// The model the turn-cost answers name (the model of the generated Codex config).
const MODEL: &str = super::codex::MODEL;

/// Takes the next scripted failure status, if any are left.
fn next_failure(shared: &Shared, script: &Script) -> Option<u16> {
    shared
        .failures_sent
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
            (sent < script.fail_first.len()).then_some(sent + 1)
        })
        .ok()
        .map(|sent| script.fail_first[sent])
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn sse(out: &mut String, data: &Value) {
    let event = data["type"].as_str().expect("SSE data carries its type");
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// The whole SSE stream answering one `/responses` request.
fn sse_events(script: &Script, request: &Value) -> String {
    let input = request["input"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let steps_done = input
        .iter()
        .filter(|item| item["type"] == "function_call_output")
        .count();
    let n = steps_done + 1;
    let response_id = format!("resp_{n}");

    let mut out = String::new();
    sse(
        &mut out,
        &json!({"type": "response.created", "response": {"id": response_id}}),
    );

    if let Some(command) = script.tool_calls.get(steps_done) {
        let (name, arguments) = shell_tool_call(request, command);
        let item = json!({
            "type": "function_call",
            "id": format!("fc_{n}"),
            "call_id": format!("call_{n}"),
            "name": name,
            "arguments": arguments.to_string(),
        });
        sse(
            &mut out,
            &json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        );
        sse(
            &mut out,
            &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        );
    } else {
        let text = &script.final_text;
        let id = format!("msg_{n}");
        let message = |content: Value| json!({"type": "message", "role": "assistant", "id": id, "content": content});
        sse(
            &mut out,
            &json!({"type": "response.output_item.added", "output_index": 0, "item": message(json!([]))}),
        );
        sse(
            &mut out,
            &json!({
                "type": "response.output_text.delta",
                "item_id": id,
                "output_index": 0,
                "content_index": 0,
                "delta": text,
            }),
        );
        sse(
            &mut out,
            &json!({
                "type": "response.output_item.done",
                "output_index": 0,
                "item": message(json!([{"type": "output_text", "text": text}])),
            }),
        );
    }

    let usage = &script.usage;
    let input_tokens = usage.input + n as u64;
    sse(
        &mut out,
        &json!({
            "type": "response.completed",
            "response": {
                "id": response_id,
                "usage": {
                    "input_tokens": input_tokens,
                    "input_tokens_details": {"cached_tokens": usage.cached},
                    "output_tokens": usage.output,
                    "output_tokens_details": {"reasoning_tokens": usage.reasoning},
                    "total_tokens": input_tokens + usage.output,
                },
            },
        }),
    );
    out
}

/// Picks the shell tool the request offers and shapes `command` as its arguments.
fn shell_tool_call(request: &Value, command: &str) -> (&'static str, Value) {
    let offers = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|tool| tool["name"] == name))
    };
    if offers("exec_command") {
        // Wait the longest Codex allows (30 s, default 10 s) before it yields a still-running
        // command: on a loaded machine a short command can take over 10 s, and its output would
        // then never reach the telemetry.
        (
            "exec_command",
            json!({"cmd": command, "yield_time_ms": 30000}),
        )
    } else if offers("shell_command") {
        ("shell_command", json!({"command": command}))
    } else {
        ("shell", json!({"command": ["bash", "-lc", command]}))
    }
}
