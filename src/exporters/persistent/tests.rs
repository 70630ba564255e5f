use super::*;
use crate::exporters::config::OnFull;
use crate::exporters::queue::{bounded, ExporterStats, QueueSender};
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

fn storage(dir: &Path) -> StorageConfig {
    StorageConfig::new(dir)
}

/// Stores `n` batches in the queue of exporter `id` in `dir` and closes it cleanly.
async fn store_batches(dir: &Path, id: &str, n: usize) {
    let m = SelfMetrics::new();
    let (sender, _rx) = bounded(
        id,
        10_000,
        1 << 30,
        OnFull::Drop,
        ExporterStats::new(&m, id, 10_000),
    );
    let store = open(&storage(dir), &sender.feed()).expect("open");
    let sender: QueueSender = sender.with_store(store.handle());
    for _ in 0..n {
        let r = sender.try_reserve(100).expect("room");
        let durable = r.send(logs_batch()).expect("persistent");
        assert_eq!(durable.await.expect("acked"), Ok(()));
    }
    drop(sender);
    store.join();
}

/// Opens the queue of `id` in `dir` again; returns its stats.
fn reopen(dir: &Path, id: &str) -> ExporterStats {
    let m = SelfMetrics::new();
    let stats = ExporterStats::new(&m, id, 10_000);
    let (sender, rx) = bounded(id, 10_000, 1 << 30, OnFull::Drop, stats.clone());
    let store = open(&storage(dir), &sender.feed()).expect("a damaged queue never fails the open");
    drop((sender, rx));
    store.join();
    stats
}

fn moved_aside(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".corrupt-"))
        .collect()
}

#[test]
fn records_round_trip_and_damage_is_detected() {
    let batch = logs_batch();
    let mut rec = encode_record(&batch);
    assert_eq!(
        decode_record(&rec).expect("round trip").payload(),
        batch.payload()
    );
    let last = rec.len() - 1;
    rec[last] ^= 0xff;
    assert_eq!(
        decode_record(&rec).err().as_deref(),
        Some("checksum mismatch")
    );
    assert!(decode_record(&[9, 9]).is_err());
}

#[tokio::test]
async fn stored_batches_come_back_after_reopening_and_corrupt_records_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_batches(dir.path(), "x", 3).await;
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
    let stats = reopen(dir.path(), "x");
    assert_eq!(
        stats.recovered.get(Signal::Logs),
        3 * logs_batch().items() as u64
    );
    assert_eq!(stats.store.corrupt_records.get(), 2);
    assert_eq!(
        stats.store.damaged_files.get(),
        0,
        "the file itself is fine"
    );
    assert!(moved_aside(dir.path()).is_empty());
}

#[tokio::test]
async fn an_unreadable_queue_file_is_moved_aside_counted_and_start_up_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(file_for(dir.path(), "y"), vec![0x5a; 64 * 1024]).expect("garbage");
    let stats = reopen(dir.path(), "y");
    assert_eq!(stats.store.damaged_files.get(), 1);
    assert_eq!(stats.store.damaged_bytes.get(), 64 * 1024);
    assert_eq!(moved_aside(dir.path()).len(), 1, "kept for inspection");
    // The fresh file works and is healthy at the next start.
    store_batches(dir.path(), "y", 1).await;
    let again = reopen(dir.path(), "y");
    assert_eq!(again.store.damaged_files.get(), 0);
    assert_eq!(
        again.recovered.get(Signal::Logs),
        logs_batch().items() as u64
    );
}

#[tokio::test]
async fn records_that_still_read_back_are_salvaged_from_a_damaged_file_and_the_rest_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stored = 40u64;
    store_batches(dir.path(), "z", stored as usize).await;
    let path = file_for(dir.path(), "z");
    let mut raw = std::fs::read(&path).expect("read");
    // Flip a bit inside every other stored record: page checksums fail, the other records are
    // intact.
    let record = encode_record(&logs_batch());
    let probe = &record[..64];
    let starts: Vec<usize> = (0..raw.len() - record.len())
        .filter(|&i| raw[i..].starts_with(probe))
        .collect();
    assert_eq!(starts.len() as u64, stored, "every record is stored inline");
    for start in starts.iter().step_by(2) {
        raw[start + record.len() / 2] ^= 0x10;
    }
    std::fs::write(&path, &raw).expect("damage");
    let stats = reopen(dir.path(), "z");
    let per = logs_batch().items() as u64;
    let salvaged = stats.recovered.get(Signal::Logs) / per;
    let lost = stats.store.corrupt_records.get();
    assert_eq!(stats.store.damaged_files.get(), 1);
    assert_eq!(stats.store.damaged_bytes.get(), raw.len() as u64);
    assert_eq!(salvaged + lost, stored, "every record salvaged or counted");
    assert_eq!((salvaged, lost), (stored / 2, stored / 2));
    // The salvaged records live in the fresh file.
    let again = reopen(dir.path(), "z");
    assert_eq!(again.recovered.get(Signal::Logs), salvaged * per);
    assert_eq!(again.store.damaged_files.get(), 0);
}

#[tokio::test]
async fn empty_files_and_files_missing_after_a_crash_are_counted_but_a_first_start_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = reopen(dir.path(), "a");
    assert_eq!(first.store.damaged_files.get(), 0, "nothing was there");

    std::fs::write(file_for(dir.path(), "b"), b"").expect("empty");
    let empty = reopen(dir.path(), "b");
    assert_eq!(empty.store.damaged_files.get(), 1);
    assert_eq!(empty.store.damaged_bytes.get(), 0);

    // A crash leaves the "open" marker; the file is gone.
    store_batches(dir.path(), "c", 2).await;
    let path = file_for(dir.path(), "c");
    std::fs::write(dir.path().join("c.redb.open"), b"").expect("marker");
    std::fs::remove_file(&path).expect("lose the file");
    let missing = reopen(dir.path(), "c");
    assert_eq!(missing.store.damaged_files.get(), 1);
    assert!(
        !dir.path().join("c.redb.open").exists(),
        "a clean close removes the marker"
    );
    assert!(path.exists(), "a fresh file");
}

#[tokio::test]
async fn a_file_another_process_holds_is_an_error_and_is_never_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = file_for(dir.path(), "d");
    let _held = Database::create(&path).expect("db");
    let m = SelfMetrics::new();
    let (sender, _rx) = bounded(
        "d",
        10,
        1 << 30,
        OnFull::Drop,
        ExporterStats::new(&m, "d", 10),
    );
    let err = open(&storage(dir.path()), &sender.feed())
        .err()
        .expect("locked");
    assert!(err.to_string().contains("already open"), "{err}");
    assert!(moved_aside(dir.path()).is_empty());
}
