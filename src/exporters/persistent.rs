//! The persistent queue (`sending_queue.storage`): one redb database per exporter. A writer
//! thread ([`writer`]) group-commits appended batches (fsync per commit) and only then
//! acknowledges them — the receiver answers the client after that — and hands them to the
//! workers; delivered batches are deleted in later, cheaper commits. At start every stored batch
//! is reloaded and sent again (duplicates possible after a crash, counted as recovered).
//!
//! Damage never stops start-up ([`damage`]): a damaged, empty or (after a crash) missing file is
//! moved aside, what can be read from it is salvaged, and the loss is counted. A failed commit
//! (disk full) refuses the new data, never touches what is stored, and the writer reopens the
//! file and recovers by itself once writing works again.

mod damage;
mod writer;

use super::config::StorageConfig;
use super::queue::{Entry, ExporterStats, Feed};
use crate::codec::{Batch, Payload, WireFormat};
use crate::telemetry::metrics::{names, SelfMetrics};
use bytes::Bytes;
use processors::Signal;
use prometheus_client::metrics::counter::Counter;
use redb::{Database, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
const RECORD_VERSION: u8 = 1;
/// Appends and deletes folded into one commit, at most.
const GROUP: usize = 512;

/// Stored records, `(key, raw record)`, in key order.
type Rows = Vec<(u64, Vec<u8>)>;

/// Resolves once a batch is durably stored (or failed to be).
pub type Durable = oneshot::Receiver<Result<(), String>>;

/// Why a persistent queue could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created.
    #[error("sending_queue.storage.directory {dir}: {source}")]
    Directory {
        /// The directory.
        dir: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The file cannot be used and is not damaged (locked by another process, no permission, no
    /// space for a new file), or a fresh file could not be created after moving a damaged one
    /// aside.
    #[error("persistent queue {path}: {message}")]
    Open {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

impl StoreError {
    fn open(path: &Path, message: impl std::fmt::Display) -> Self {
        StoreError::Open {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// What one persistent queue lost or failed at: shared by the opening code and the writer.
pub struct StoreCounters {
    /// `gateway_exporter_queue_corrupt_records_total`.
    pub corrupt_records: Counter,
    /// `gateway_exporter_queue_damaged_files_total`.
    pub damaged_files: Counter,
    /// `gateway_exporter_queue_damaged_bytes_total`.
    pub damaged_bytes: Counter,
    /// `gateway_exporter_queue_write_failures_total`.
    pub write_failures: Counter,
}

impl StoreCounters {
    /// Resolves the counters of exporter `id`.
    pub fn new(m: &SelfMetrics, id: &str) -> Self {
        let c = |name| m.request_counter(name, "exporter", id);
        StoreCounters {
            corrupt_records: c(names::EXPORTER_QUEUE_CORRUPT),
            damaged_files: c(names::EXPORTER_QUEUE_DAMAGED_FILES),
            damaged_bytes: c(names::EXPORTER_QUEUE_DAMAGED_BYTES),
            write_failures: c(names::EXPORTER_QUEUE_WRITE_FAILURES),
        }
    }
}

/// A batch waiting for its commit.
struct Append {
    feed: Feed,
    batch: Arc<Batch>,
    bytes: u64,
    ack: oneshot::Sender<Result<(), String>>,
}

impl Append {
    /// Refuses the batch: its room goes back, the sender learns why.
    fn refuse(self, why: &str) {
        self.feed.core.cap.release(self.bytes);
        let _ = self.ack.send(Err(why.to_string()));
    }
}

// One op per batch through a channel: its size is irrelevant next to the batch itself.
#[allow(clippy::large_enum_variant)]
enum Op {
    Append(Append),
    Delete(u64),
}

/// A handle to the writer thread, held by senders and workers.
#[derive(Clone)]
pub struct StoreHandle {
    tx: std_mpsc::Sender<Op>,
}

impl StoreHandle {
    /// Queues a batch for a durable write; the returned receiver resolves after the commit.
    pub fn append(&self, feed: Feed, batch: Arc<Batch>, bytes: u64) -> Durable {
        let (ack, done) = oneshot::channel();
        let op = Op::Append(Append {
            feed,
            batch,
            bytes,
            ack,
        });
        if let Err(std_mpsc::SendError(Op::Append(append))) = self.tx.send(op) {
            append.refuse("persistent queue is closed");
        }
        done
    }

    /// Deletes a delivered batch (folded into a later commit).
    pub fn delete(&self, key: u64) {
        let _ = self.tx.send(Op::Delete(key));
    }
}

/// The writer thread of one persistent queue.
pub struct Store {
    handle: StoreHandle,
    thread: std::thread::JoinHandle<bool>,
    path: PathBuf,
}

impl Store {
    /// The handle for senders and workers.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Waits (blocking) for the writer to commit what is pending and stop; call after every
    /// handle is dropped. A queue closed cleanly loses its "open" marker.
    pub fn join(self) {
        drop(self.handle);
        if let Ok(true) = self.thread.join() {
            damage::mark_closed(&self.path);
        }
    }
}

/// The file of exporter `id` in `dir`.
pub fn file_for(dir: &Path, id: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.redb"))
}

/// Opens (or creates) the queue of exporter `feed.core.id` in `cfg.directory` — replacing a
/// damaged file ([`damage`]) — reloads what it holds into the workers' channel, and starts the
/// writer thread.
pub fn open(cfg: &StorageConfig, feed: &Feed) -> Result<Store, StoreError> {
    let core = &feed.core;
    let dir = &cfg.directory;
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
        dir: dir.display().to_string(),
        source,
    })?;
    let path = file_for(dir, &core.id);
    let counters = core.stats.store.clone();
    let opened = damage::open_or_replace(&path, &core.id, &counters)?;
    let next_key = recover(&opened.db, opened.rows, feed);
    damage::mark_open(&path)?;
    let (tx, rx) = std_mpsc::channel();
    let writer = writer::Writer::new(
        path.clone(),
        core.id.clone(),
        opened.db,
        next_key,
        cfg.recovery_interval.0,
        counters,
    );
    let thread = std::thread::Builder::new()
        .name(format!("queue-{}", core.id))
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::open(&path, format!("writer thread: {e}")))?;
    Ok(Store {
        handle: StoreHandle { tx },
        thread,
        path,
    })
}

/// `[version][signal][crc32 of payload, LE][protobuf payload]`.
fn encode_record(batch: &Batch) -> Vec<u8> {
    let proto = batch.encoded(WireFormat::Proto, false);
    let mut out = Vec::with_capacity(proto.len() + 6);
    out.push(RECORD_VERSION);
    out.push(batch.signal() as u8);
    out.extend_from_slice(&crc32fast::hash(proto).to_le_bytes());
    out.extend_from_slice(proto);
    out
}

/// The signal and payload of a record whose header and checksum are right.
fn check_record(raw: &[u8]) -> Result<(Signal, &[u8]), &'static str> {
    if raw.len() < 6 || raw[0] != RECORD_VERSION {
        return Err("unknown record header");
    }
    let signal = *Signal::ALL.get(raw[1] as usize).ok_or("unknown signal")?;
    let crc = u32::from_le_bytes([raw[2], raw[3], raw[4], raw[5]]);
    let proto = &raw[6..];
    if crc32fast::hash(proto) != crc {
        return Err("checksum mismatch");
    }
    Ok((signal, proto))
}

fn decode_record(raw: &[u8]) -> Result<Batch, String> {
    let (signal, proto) = check_record(raw)?;
    let bytes = Bytes::copy_from_slice(proto);
    let payload = Payload::decode_proto(signal, bytes.clone()).map_err(|e| e.to_string())?;
    Ok(Batch::with_proto(payload, bytes))
}

/// Reloads every stored record into the workers' channel; skips, deletes and counts unreadable
/// ones. Returns the next free key.
fn recover(db: &Database, rows: Rows, feed: &Feed) -> u64 {
    let core = &feed.core;
    let stats: &ExporterStats = &core.stats;
    let next = rows.last().map_or(0, |(k, _)| k + 1);
    let mut bad = Vec::new();
    let mut items = 0u64;
    for (key, raw) in rows {
        match decode_record(&raw) {
            Ok(batch) => {
                let bytes = batch.size_bytes();
                items += batch.items() as u64;
                stats.recovered.add(batch.signal(), batch.items() as u64);
                core.cap.force_acquire(bytes);
                feed.push(Entry {
                    batch: Arc::new(batch),
                    bytes,
                    key: Some(key),
                });
            }
            Err(reason) => {
                tracing::warn!(exporter = %core.id, key, %reason, "unreadable record in the persistent queue skipped");
                stats.store.corrupt_records.inc();
                bad.push(key);
            }
        }
    }
    if !bad.is_empty() {
        if let Ok(txn) = db.begin_write() {
            if let Ok(mut table) = txn.open_table(TABLE) {
                for k in &bad {
                    let _ = table.remove(*k);
                }
            }
            let _ = txn.commit();
        }
    }
    if items > 0 {
        tracing::info!(exporter = %core.id, items, "reloaded the persistent queue");
    }
    next
}

/// Runs `f`, turning a panic into an error message. redb asserts instead of returning an error
/// on some damaged files (a truncated file: `assertion failed: storage.raw_file_len()? >=
/// header.layout().len()`; appended bytes; overwritten branch pages: `unreachable`), so every
/// call that opens, checks or reads a file of unknown state, or commits to one, runs here. The
/// panic is not printed (the caller logs the message, with where it happened, as an ERROR).
///
/// Unwind safety: `f` only touches the `Database` it was given or creates, and plain values it
/// fills (complete rows pushed one at a time). After a panic that `Database` is at most read
/// once more to salvage records — each checked by its own checksum, a second panic caught the
/// same way, a lock poisoned by the first one an error — and then dropped (redb's `Drop` does
/// nothing while panicking), so no broken invariant outlives it.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        let at = PANIC_AT.with(|a| a.take()).unwrap_or_default();
        format!("redb panicked{at}: {}", msg.lines().next().unwrap_or(msg))
    })
}

std::thread_local! {
    /// Set while [`guarded`] runs on this thread.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last guarded panic on this thread happened (` at file:line`).
    static PANIC_AT: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Wraps the panic hook (once): panics inside [`guarded`] only note where they happened; every
/// other panic goes to the hook that was installed before.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(std::cell::Cell::get) {
                let at = info.location().map(|l| {
                    format!(
                        " at {}:{}",
                        l.file().rsplit("/src/").next().unwrap_or(l.file()),
                        l.line()
                    )
                });
                PANIC_AT.with(|a| a.set(at));
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests;
