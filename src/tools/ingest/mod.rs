//! `codex-otel-gateway ingest`: token usage from Codex session files (the rollout JSONL files
//! under `$CODEX_HOME/sessions`) sent as OTLP logs and metrics, for usage that was never exported
//! live (telemetry off, offline laptops, history before the gateway existed).
//!
//! Flow: [`session::discover`] lists the files → [`session::read_from`] reads each from the
//! position saved in the [`state`] file and turns `token_count` lines into usage deltas →
//! [`otlp`] builds content-free requests → a [`deliver::Sink`] sends them (to a running gateway,
//! or through a config's pipelines in-process) → the state is saved atomically once the data is
//! acknowledged, so a cron job sends each token once and an appended file only its new part.

pub mod deliver;
pub mod otlp;
pub mod session;
pub mod state;

use deliver::{DeliveryError, Sink};
use otlp::FileUsage;
use session::{Cursor, ReadError, TokenUsage};
use state::{State, StateError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Log records per request (files are never split: one with more goes alone).
pub const DEFAULT_BATCH_RECORDS: usize = 1000;

/// Options of one ingest run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Session files and folders (searched recursively for `rollout-*.jsonl`).
    pub paths: Vec<PathBuf>,
    /// The state file.
    pub state_path: PathBuf,
    /// Log records per request.
    pub batch_records: usize,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Session files looked at.
    pub files: usize,
    /// Files with new usage.
    pub files_with_usage: usize,
    /// Usage log records sent (one per delta).
    pub records: u64,
    /// The tokens sent.
    pub tokens: TokenUsage,
    /// Lines that were not JSON (skipped).
    pub corrupt_lines: u64,
    /// Files shorter than their saved position (read again from the start).
    pub restarted_files: usize,
    /// Files or folders that could not be read.
    pub unreadable: Vec<ReadError>,
    /// Items the gateway accepted but rejected (OTLP partial success).
    pub rejected: deliver::Rejected,
}

impl Summary {
    /// What the command prints on stderr: the totals, skipped lines, partial success and
    /// unreadable files, one line each.
    pub fn report(&self) -> Vec<String> {
        let t = &self.tokens;
        let mut out = vec![format!(
            "ingest: {} file(s), {} with new usage; sent {} usage record(s): {} input ({} cached), {} output ({} reasoning), {} total tokens",
            self.files,
            self.files_with_usage,
            self.records,
            t.input_tokens,
            t.cached_input_tokens,
            t.output_tokens,
            t.reasoning_output_tokens,
            t.total_tokens
        )];
        if self.corrupt_lines > 0 {
            out.push(format!(
                "ingest: skipped {} line(s) that are not JSON",
                self.corrupt_lines
            ));
        }
        if self.rejected.log_records + self.rejected.data_points > 0 {
            out.push(format!(
                "warning: the gateway rejected {} log record(s) and {} data point(s) (partial success)",
                self.rejected.log_records, self.rejected.data_points
            ));
        }
        out.extend(
            self.unreadable
                .iter()
                .map(|e| format!("error: cannot read {e}")),
        );
        out
    }
}

/// Why a run failed (unreadable files are not failures: see [`Summary::unreadable`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The state file.
    #[error(transparent)]
    State(#[from] StateError),
    /// Sending.
    #[error("sending failed (the state file keeps the unsent part for the next run)")]
    Delivery(#[from] DeliveryError),
}

/// A file read, waiting to be sent (or for the acknowledgement).
struct Part {
    key: String,
    cursor: Cursor,
    usage: FileUsage,
}

fn now_nanos() -> u64 {
    processors::clock::unix_nanos()
}

/// Runs one ingest: reads every file's new part, sends it through `sink`, saves the state.
pub async fn run(opts: &Options, mut sink: Sink) -> Result<Summary, RunError> {
    let mut state = State::load(&opts.state_path)?;
    let (files, unreadable) = session::discover(&opts.paths);
    let mut summary = Summary {
        files: files.len(),
        unreadable,
        ..Summary::default()
    };
    let mut bar = Progress::new(files.len(), opts.progress);
    let mut batch: Vec<Part> = Vec::new();
    let mut unacked: Vec<Part> = Vec::new();
    let mut batch_records = 0usize;
    for path in &files {
        // The same file under any spelling (relative, `..`, symlinks) has one entry.
        let key = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.clone())
            .to_string_lossy()
            .into_owned();
        let cursor = state.files.get(&key).cloned().unwrap_or_default();
        match session::read_from(path, &cursor) {
            Err(e) => summary.unreadable.push(e),
            Ok(part) => {
                summary.corrupt_lines += part.corrupt_lines;
                if part.corrupt_lines > 0 {
                    tracing::warn!(file = %path.display(), lines = part.corrupt_lines, "skipped lines that are not JSON");
                }
                if part.restarted {
                    summary.restarted_files += 1;
                    tracing::warn!(file = %path.display(), "the file is shorter than when it was last read: reading it again from the start");
                }
                if part.cursor != cursor {
                    if !part.deltas.is_empty() {
                        summary.files_with_usage += 1;
                    }
                    batch_records += part.deltas.len();
                    batch.push(Part {
                        key,
                        usage: FileUsage {
                            session: part.cursor.session.clone(),
                            deltas: part.deltas,
                        },
                        cursor: part.cursor,
                    });
                }
            }
        }
        if batch_records >= opts.batch_records.max(1) {
            flush(
                &mut sink,
                &mut batch,
                &mut unacked,
                &mut state,
                opts,
                &mut summary,
            )
            .await?;
            batch_records = 0;
        }
        bar.inc();
    }
    flush(
        &mut sink,
        &mut batch,
        &mut unacked,
        &mut state,
        opts,
        &mut summary,
    )
    .await?;
    bar.finish();
    sink.finish().await?;
    if !unacked.is_empty() {
        for p in unacked {
            state.files.insert(p.key, p.cursor);
        }
        state.save(&opts.state_path)?;
    }
    Ok(summary)
}

/// Sends the batch; saves the state now if the sink acknowledges each send, else keeps the
/// parts for after [`Sink::finish`].
async fn flush(
    sink: &mut Sink,
    batch: &mut Vec<Part>,
    unacked: &mut Vec<Part>,
    state: &mut State,
    opts: &Options,
    summary: &mut Summary,
) -> Result<(), RunError> {
    if batch.is_empty() {
        return Ok(());
    }
    let usage: Vec<FileUsage> = batch.iter().map(|p| p.usage.clone()).collect();
    let now = now_nanos();
    let rejected = sink
        .send(otlp::logs(&usage, now), otlp::metrics(&usage, now))
        .await?;
    summary.rejected.log_records += rejected.log_records;
    summary.rejected.data_points += rejected.data_points;
    for u in &usage {
        for d in &u.deltas {
            summary.records += 1;
            summary.tokens.add(&d.delta);
        }
    }
    if sink.acks_each_send() {
        for p in batch.drain(..) {
            state.files.insert(p.key, p.cursor);
        }
        state.save(&opts.state_path)?;
    } else {
        unacked.append(batch);
    }
    Ok(())
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    total: usize,
    done: usize,
    on: bool,
}

impl Progress {
    fn new(total: usize, wanted: bool) -> Self {
        Progress {
            total,
            done: 0,
            on: wanted && total > 0 && std::io::stderr().is_terminal(),
        }
    }

    fn inc(&mut self) {
        self.done += 1;
        if !self.on {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * self.done / self.total.max(1);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{}{}] {}/{} session files",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.total
        );
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.on {
            let _ = writeln!(std::io::stderr());
            self.on = false;
        }
    }
}
