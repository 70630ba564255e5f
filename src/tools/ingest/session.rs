//! Reading Codex session files (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`) from a saved
//! position: one JSON object a line, `{"timestamp", "type", "payload"}`. What is used (Codex
//! 0.169.0):
//!
//! * `session_meta`: `payload.id` (the conversation id), `originator`, `cli_version`, `source`;
//! * `turn_context`: `payload.model` (the model of the turns that follow);
//! * `event_msg` with `payload.type = "token_count"`: `payload.info.total_token_usage` (running
//!   totals of the session: `input_tokens`, `cached_input_tokens`, `output_tokens`,
//!   `reasoning_output_tokens`, `total_tokens`) and `last_token_usage` (the last response's).
//!
//! Usage deltas come from the running totals (a repeated `token_count` with unchanged totals adds
//! nothing; totals that go down, e.g. after a history rewrite, fall back to `last_token_usage`), so
//! the deltas of a file always add up to its last `total_token_usage`. `token_usage_record` lines
//! carry the same numbers per response and are not counted again. Everything else (prompts, model
//! output, tool calls) is never read beyond the JSON parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Token counts, as Codex names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// `input_tokens` (cached ones included).
    pub input_tokens: u64,
    /// `cached_input_tokens`.
    pub cached_input_tokens: u64,
    /// `output_tokens` (reasoning ones included).
    pub output_tokens: u64,
    /// `reasoning_output_tokens`.
    pub reasoning_output_tokens: u64,
    /// `total_tokens`.
    pub total_tokens: u64,
}

impl TokenUsage {
    fn from_json(v: &Value) -> Option<Self> {
        let field = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        v.is_object().then(|| TokenUsage {
            input_tokens: field("input_tokens"),
            cached_input_tokens: field("cached_input_tokens"),
            output_tokens: field("output_tokens"),
            reasoning_output_tokens: field("reasoning_output_tokens"),
            total_tokens: field("total_tokens"),
        })
    }

    fn fields(&self) -> [u64; 5] {
        [
            self.input_tokens,
            self.cached_input_tokens,
            self.output_tokens,
            self.reasoning_output_tokens,
            self.total_tokens,
        ]
    }

    /// `self - earlier`, or `None` when any count went down.
    fn minus(&self, earlier: &TokenUsage) -> Option<TokenUsage> {
        Some(TokenUsage {
            input_tokens: self.input_tokens.checked_sub(earlier.input_tokens)?,
            cached_input_tokens: self
                .cached_input_tokens
                .checked_sub(earlier.cached_input_tokens)?,
            output_tokens: self.output_tokens.checked_sub(earlier.output_tokens)?,
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .checked_sub(earlier.reasoning_output_tokens)?,
            total_tokens: self.total_tokens.checked_sub(earlier.total_tokens)?,
        })
    }

    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &TokenUsage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.reasoning_output_tokens = self
            .reasoning_output_tokens
            .saturating_add(other.reasoning_output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
    }

    /// Whether every count is zero.
    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|n| *n == 0)
    }
}

/// What the session file said about itself before the usage lines: kept in the state file so an
/// appended part can be read without the start of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `session_meta.payload.id`: Codex's `conversation.id`.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The model of the latest `turn_context`.
    #[serde(default)]
    pub model: Option<String>,
    /// `session_meta.payload.originator`, e.g. `codex_exec` (Codex's `service.name`).
    #[serde(default)]
    pub originator: Option<String>,
    /// `session_meta.payload.cli_version`.
    #[serde(default)]
    pub cli_version: Option<String>,
    /// `session_meta.payload.source`, e.g. `exec`, `cli`, `vscode`.
    #[serde(default)]
    pub source: Option<String>,
}

/// Where reading a file stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Bytes consumed (always at a line end).
    pub offset: u64,
    /// The last `total_token_usage` seen.
    #[serde(default)]
    pub last_total: Option<TokenUsage>,
    /// What the file said about its session.
    #[serde(default)]
    pub session: SessionInfo,
}

/// One usage delta: what a `token_count` line added to the session's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The line's `timestamp`, as written.
    pub timestamp: String,
    /// It in nanoseconds since the epoch (0 when it does not parse).
    pub time_unix_nano: u64,
    /// The model in effect (latest `turn_context`).
    pub model: Option<String>,
    /// The tokens added.
    pub delta: TokenUsage,
}

/// What reading the new part of a file gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPart {
    /// Usage deltas, in file order.
    pub deltas: Vec<UsageDelta>,
    /// Where to continue next time.
    pub cursor: Cursor,
    /// Complete lines read.
    pub lines: u64,
    /// Lines that were not JSON objects (skipped).
    pub corrupt_lines: u64,
    /// The file was shorter than the saved offset: it was read again from the start.
    pub restarted: bool,
}

/// Why a session file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Reads the complete lines of `path` after `cursor.offset` (a trailing line without its newline
/// is left for the next run: Codex may be writing it).
pub fn read_from(path: &Path, cursor: &Cursor) -> Result<NewPart, ReadError> {
    let err = |source| ReadError {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let (mut cursor, restarted) = if len < cursor.offset {
        (Cursor::default(), true)
    } else {
        (cursor.clone(), false)
    };
    file.seek(SeekFrom::Start(cursor.offset)).map_err(err)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(err)?;
    let mut out = NewPart {
        restarted,
        ..NewPart::default()
    };
    let mut consumed = 0usize;
    while let Some(nl) = bytes[consumed..].iter().position(|b| *b == b'\n') {
        let line = &bytes[consumed..consumed + nl];
        consumed += nl + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.lines += 1;
        match serde_json::from_slice::<Value>(line) {
            Ok(v) if v.is_object() => apply(&v, &mut cursor, &mut out.deltas),
            _ => out.corrupt_lines += 1,
        }
    }
    cursor.offset += consumed as u64;
    out.cursor = cursor;
    Ok(out)
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Applies one line to the cursor; a `token_count` with new usage adds a delta.
fn apply(line: &Value, cursor: &mut Cursor, deltas: &mut Vec<UsageDelta>) {
    let payload = line.get("payload").unwrap_or(&Value::Null);
    match line.get("type").and_then(Value::as_str) {
        Some("session_meta") => {
            let s = &mut cursor.session;
            s.conversation_id = text(payload, "id")
                .or_else(|| text(payload, "session_id"))
                .or(s.conversation_id.take());
            s.originator = text(payload, "originator").or(s.originator.take());
            s.cli_version = text(payload, "cli_version").or(s.cli_version.take());
            s.source = text(payload, "source").or(s.source.take());
        }
        Some("turn_context") => {
            if let Some(m) = text(payload, "model") {
                cursor.session.model = Some(m);
            }
        }
        Some("event_msg") if payload.get("type").and_then(Value::as_str) == Some("token_count") => {
            let info = payload.get("info").unwrap_or(&Value::Null);
            let Some(total) = info
                .get("total_token_usage")
                .and_then(TokenUsage::from_json)
            else {
                return;
            };
            let delta = match &cursor.last_total {
                None => total,
                Some(prev) => total.minus(prev).unwrap_or_else(|| {
                    info.get("last_token_usage")
                        .and_then(TokenUsage::from_json)
                        .unwrap_or(total)
                }),
            };
            cursor.last_total = Some(total);
            if delta.is_zero() {
                return;
            }
            let timestamp = text(line, "timestamp").unwrap_or_default();
            deltas.push(UsageDelta {
                time_unix_nano: processors::codex::parse_rfc3339_nanos(&timestamp).unwrap_or(0),
                timestamp,
                model: cursor.session.model.clone(),
                delta,
            });
        }
        _ => {}
    }
}

/// Every session file under `paths`: files as given, directories searched recursively for
/// `rollout-*.jsonl`. Sorted, without duplicates. Paths that cannot be read are returned as
/// errors (the others are still listed).
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ReadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut errors),
            Ok(_) => files.push(p.clone()),
            Err(source) => errors.push(ReadError {
                path: p.clone(),
                source,
            }),
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<ReadError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(ReadError {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(source) => {
                errors.push(ReadError {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            walk(&path, files, errors);
        } else if is_rollout(&path) {
            files.push(path);
        }
    }
}

fn is_rollout(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn token_count(input: u64, output: u64) -> String {
        format!(
            r#"{{"timestamp":"2026-11-21T09:45:38.039Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{input},"cached_input_tokens":0,"output_tokens":{output},"reasoning_output_tokens":0,"total_tokens":{}}},"last_token_usage":{{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1,"reasoning_output_tokens":0,"total_tokens":2}}}}}}}}"#,
            input + output
        )
    }

    #[test]
    fn deltas_add_up_to_the_last_total_and_appended_lines_continue_from_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout-x.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, r#"{{"timestamp":"2026-11-21T09:45:37.389Z","type":"session_meta","payload":{{"id":"conv-1","originator":"codex_exec","cli_version":"0.169.0","source":"exec"}}}}"#).unwrap();
        writeln!(
            f,
            r#"{{"timestamp":"t","type":"turn_context","payload":{{"model":"gpt-5.1-codex"}}}}"#
        )
        .unwrap();
        writeln!(f, "{}", token_count(100, 10)).unwrap();
        writeln!(f, "{}", token_count(100, 10)).unwrap(); // repeated: nothing new
        writeln!(f, "not json").unwrap();
        writeln!(f, "{}", token_count(250, 30)).unwrap();
        write!(f, "{}", token_count(999, 99)).unwrap(); // no newline yet
        drop(f);
        let first = read_from(&path, &Cursor::default()).unwrap();
        assert_eq!(first.corrupt_lines, 1);
        assert_eq!(first.deltas.len(), 2);
        let sum: u64 = first.deltas.iter().map(|d| d.delta.input_tokens).sum();
        assert_eq!(sum, 250);
        assert_eq!(first.deltas[0].model.as_deref(), Some("gpt-5.1-codex"));
        assert_eq!(
            first.cursor.session.conversation_id.as_deref(),
            Some("conv-1")
        );
        assert!(first.deltas[0].time_unix_nano > 0);

        let again = read_from(&path, &first.cursor).unwrap();
        assert!(again.deltas.is_empty(), "the partial line waits");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f).unwrap();
        drop(f);
        let appended = read_from(&path, &again.cursor).unwrap();
        assert_eq!(appended.deltas.len(), 1);
        assert_eq!(appended.deltas[0].delta.input_tokens, 749);
        assert_eq!(appended.deltas[0].delta.output_tokens, 69);
        assert_eq!(appended.deltas[0].model.as_deref(), Some("gpt-5.1-codex"));
    }

    #[test]
    fn totals_that_go_down_count_the_last_response_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(
            &path,
            format!("{}\n{}\n", token_count(500, 50), token_count(10, 5)),
        )
        .unwrap();
        let r = read_from(&path, &Cursor::default()).unwrap();
        assert_eq!(r.deltas.len(), 2);
        assert_eq!(r.deltas[1].delta.input_tokens, 1);
    }

    #[test]
    fn a_shorter_file_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, format!("{}\n", token_count(5, 5))).unwrap();
        let cursor = Cursor {
            offset: 1_000_000,
            ..Cursor::default()
        };
        let r = read_from(&path, &cursor).unwrap();
        assert!(r.restarted);
        assert_eq!(r.deltas.len(), 1);
    }
}
