//! The persistent queue (`sending_queue.storage.directory`): one redb database per exporter.
//! A writer thread group-commits appended batches (fsync per commit) and only then acknowledges
//! them — the receiver answers the client after that — and hands them to the workers; delivered
//! batches are deleted in later, cheaper commits. At start every stored batch is reloaded and
//! sent again (duplicates possible after a crash, counted as recovered); a record that cannot be
//! read is skipped, deleted and counted, and a database file that cannot be opened is moved aside
//! so start-up never fails on it. A failed commit (disk full) refuses the new data and never
//! touches what is stored.

use super::queue::{Entry, ExporterStats, Feed};
use crate::codec::{Batch, Payload, WireFormat};
use bytes::Bytes;
use processors::Signal;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
const RECORD_VERSION: u8 = 1;
/// Appends and deletes folded into one commit, at most.
const GROUP: usize = 512;

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
    /// The database could not be created, even after moving a broken file aside.
    #[error("persistent queue {path}: {message}")]
    Open {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

// One op per batch through a channel: its size is irrelevant next to the batch itself.
#[allow(clippy::large_enum_variant)]
enum Op {
    Append {
        feed: Feed,
        batch: Arc<Batch>,
        bytes: u64,
        ack: oneshot::Sender<Result<(), String>>,
    },
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
        if let Err(std_mpsc::SendError(Op::Append {
            feed, bytes, ack, ..
        })) = self.tx.send(Op::Append {
            feed,
            batch,
            bytes,
            ack,
        }) {
            feed.core.cap.release(bytes);
            let _ = ack.send(Err("persistent queue is closed".into()));
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
    thread: std::thread::JoinHandle<()>,
}

impl Store {
    /// The handle for senders and workers.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Waits (blocking) for the writer to commit what is pending and stop; call after every
    /// handle is dropped.
    pub fn join(self) {
        drop(self.handle);
        let _ = self.thread.join();
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

/// Opens (or creates) the queue of exporter `feed.core.id` in `dir`, reloads what it holds into
/// the workers' channel, and starts the writer thread.
pub fn open(dir: &Path, feed: &Feed) -> Result<Store, StoreError> {
    let core = &feed.core;
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
        dir: dir.display().to_string(),
        source,
    })?;
    let path = file_for(dir, &core.id);
    let db = match open_db(&path) {
        Ok(db) => db,
        Err(first) => {
            let aside = path.with_extension(format!(
                "redb.corrupt-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            ));
            tracing::error!(exporter = %core.id, file = %path.display(), moved_to = %aside.display(), error = %first,
                "persistent queue unreadable: moved aside, starting empty");
            core.stats.corrupt.inc();
            std::fs::rename(&path, &aside).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("{first}; moving it aside failed: {e}"),
            })?;
            open_db(&path).map_err(|message| StoreError::Open {
                path: path.display().to_string(),
                message,
            })?
        }
    };
    let next_key = recover(&db, feed);
    let (tx, rx) = std_mpsc::channel();
    let id = core.id.clone();
    let thread = std::thread::Builder::new()
        .name(format!("queue-{id}"))
        .spawn(move || writer(db, rx, next_key, id))
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: format!("writer thread: {e}"),
        })?;
    Ok(Store {
        handle: StoreHandle { tx },
        thread,
    })
}

fn open_db(path: &Path) -> Result<Database, String> {
    let db = Database::create(path).map_err(|e| e.to_string())?;
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.open_table(TABLE).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())?;
    Ok(db)
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

fn decode_record(raw: &[u8]) -> Result<Batch, String> {
    if raw.len() < 6 || raw[0] != RECORD_VERSION {
        return Err("unknown record header".into());
    }
    let signal = *Signal::ALL
        .get(raw[1] as usize)
        .ok_or_else(|| "unknown signal".to_string())?;
    let crc = u32::from_le_bytes([raw[2], raw[3], raw[4], raw[5]]);
    let proto = &raw[6..];
    if crc32fast::hash(proto) != crc {
        return Err("checksum mismatch".into());
    }
    let bytes = Bytes::copy_from_slice(proto);
    let payload = Payload::decode_proto(signal, bytes.clone()).map_err(|e| e.to_string())?;
    Ok(Batch::with_proto(payload, bytes))
}

/// Reloads every stored batch into the workers' channel; skips and deletes unreadable ones.
/// Returns the next free key.
fn recover(db: &Database, feed: &Feed) -> u64 {
    let core = &feed.core;
    let stats: &ExporterStats = &core.stats;
    let mut bad = Vec::new();
    let mut next = 0u64;
    let mut items = 0u64;
    if let Ok(txn) = db.begin_read() {
        if let Ok(table) = txn.open_table(TABLE) {
            if let Ok(iter) = table.iter() {
                for row in iter {
                    let Ok((k, v)) = row else {
                        stats.corrupt.inc();
                        continue;
                    };
                    let key = k.value();
                    next = next.max(key + 1);
                    match decode_record(v.value()) {
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
                            stats.corrupt.inc();
                            bad.push(key);
                        }
                    }
                }
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

fn writer(db: Database, rx: std_mpsc::Receiver<Op>, mut next_key: u64, id: Arc<str>) {
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < GROUP {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        commit(&db, ops, &mut next_key, &id);
    }
    // Every handle is gone: make the last deletes durable.
    if let Ok(mut txn) = db.begin_write() {
        txn.set_durability(Durability::Immediate);
        let _ = txn.commit();
    }
}

fn commit(db: &Database, ops: Vec<Op>, next_key: &mut u64, id: &str) {
    let appends = ops
        .iter()
        .filter(|o| matches!(o, Op::Append { .. }))
        .count();
    let mut staged = Vec::with_capacity(appends);
    let result = (|| -> Result<(), String> {
        let mut txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.set_durability(if appends > 0 {
            Durability::Immediate
        } else {
            Durability::Eventual
        });
        {
            let mut table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            for op in &ops {
                match op {
                    Op::Append { batch, .. } => {
                        let key = *next_key + staged.len() as u64;
                        table
                            .insert(key, encode_record(batch).as_slice())
                            .map_err(|e| e.to_string())?;
                        staged.push(key);
                    }
                    Op::Delete(key) => {
                        table.remove(*key).map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| e.to_string())
    })();
    if result.is_ok() {
        *next_key += staged.len() as u64;
    }
    let mut keys = staged.into_iter();
    for op in ops {
        let Op::Append {
            feed,
            batch,
            bytes,
            ack,
        } = op
        else {
            continue;
        };
        match &result {
            Ok(()) => {
                feed.push(Entry {
                    batch,
                    bytes,
                    key: keys.next(),
                });
                let _ = ack.send(Ok(()));
            }
            Err(e) => {
                feed.core.cap.release(bytes);
                let _ = ack.send(Err(e.clone()));
            }
        }
    }
    if let Err(e) = result {
        tracing::error!(exporter = %id, error = %e, "persistent queue write failed: new data refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let payload = Payload::decode_proto(Signal::Logs, Bytes::from(body)).expect("decode");
        let batch = Batch::new(payload.clone());
        let mut rec = encode_record(&batch);
        assert_eq!(decode_record(&rec).expect("round trip").payload(), &payload);
        let last = rec.len() - 1;
        rec[last] ^= 0xff;
        assert_eq!(
            decode_record(&rec).err().as_deref(),
            Some("checksum mismatch")
        );
        assert!(decode_record(&[9, 9]).is_err());
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;
    use crate::exporters::config::OnFull;
    use crate::exporters::queue::{bounded, ExporterStats};
    use crate::telemetry::metrics::SelfMetrics;

    fn logs_batch() -> Arc<Batch> {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let payload = Payload::decode_proto(Signal::Logs, Bytes::from(body)).expect("decode");
        Arc::new(Batch::new(payload))
    }

    #[tokio::test]
    async fn stored_batches_come_back_after_reopening_and_corrupt_records_are_skipped_and_counted()
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = SelfMetrics::new();
        {
            let (sender, _rx) = bounded(
                "x",
                100,
                1 << 30,
                OnFull::Drop,
                ExporterStats::new(&m, "x", 100),
            );
            let store = open(dir.path(), &sender.feed()).expect("open");
            let sender = sender.with_store(store.handle());
            for _ in 0..3 {
                let r = sender.try_reserve(100).expect("room");
                let durable = r.send(logs_batch()).expect("persistent");
                assert_eq!(durable.await.expect("acked"), Ok(()));
            }
            drop(sender);
            store.join();
        }
        // Damage: one record with a bad checksum, one that is not a record at all.
        {
            let db = Database::create(file_for(dir.path(), "x")).expect("db");
            let txn = db.begin_write().expect("txn");
            {
                let mut t = txn.open_table(TABLE).expect("table");
                let mut bad = encode_record(&logs_batch());
                let last = bad.len() - 1;
                bad[last] ^= 1;
                t.insert(1000, bad.as_slice()).expect("insert");
                t.insert(1001, b"junk".as_slice()).expect("insert");
            }
            txn.commit().expect("commit");
        }
        let m2 = SelfMetrics::new();
        let stats = ExporterStats::new(&m2, "x", 100);
        let (sender, rx) = bounded("x", 100, 1 << 30, OnFull::Drop, stats.clone());
        let store = open(dir.path(), &sender.feed()).expect("reopen never fails on bad records");
        assert_eq!(
            stats.recovered.get(Signal::Logs),
            3 * logs_batch().items() as u64
        );
        assert_eq!(stats.corrupt.get(), 2);
        drop((sender, rx));
        store.join();
    }

    #[tokio::test]
    async fn an_unreadable_queue_file_is_moved_aside_and_start_up_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(file_for(dir.path(), "y"), vec![0x5a; 64 * 1024]).expect("garbage");
        let m = SelfMetrics::new();
        let stats = ExporterStats::new(&m, "y", 10);
        let (sender, rx) = bounded("y", 10, 1 << 30, OnFull::Drop, stats.clone());
        let store = open(dir.path(), &sender.feed()).expect("opens a fresh queue");
        assert_eq!(stats.corrupt.get(), 1);
        let aside = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(aside, "the broken file is kept for inspection");
        drop((sender, rx));
        store.join();
    }
}
