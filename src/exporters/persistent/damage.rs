//! Opening a queue file that may be damaged, at start and when the writer reopens it after a
//! failed commit. A file is healthy when redb opens it, its checksums verify (redb's repair after
//! a crash, or `check_integrity`) and every record reads back in key order; anything else —
//! an error, a panic inside redb, a 0-byte file — is damage: the file is moved aside to
//! `<file>.corrupt-<unix seconds>`, the records that still read back with a good checksum are
//! written to a fresh file under their old keys, and the loss is counted and logged as an ERROR
//! naming the moved file. A file missing while its "open" marker (`<file>.open`, present
//! while a gateway has the queue open) says the last run did not close it is counted too.
//!
//! Not damage, and never moved aside: a file another process holds open, and I/O errors other
//! than unreadable data (no permission, no space): those fail the open.

use super::{check_record, guarded, Rows, StoreCounters, StoreError, TABLE};
use redb::{
    Database, DatabaseError, Durability, ReadableTable, ReadableTableMetadata, StorageError,
    TableError,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A usable database and the records it holds, in key order.
pub(super) struct Opened {
    pub db: Database,
    pub rows: Rows,
}

/// Why a file is damaged, and what could still be read from it.
struct Damage {
    reason: String,
    /// Records read before the damage stopped the reading (checked later).
    rows: Rows,
    /// How many records the file said it held, if it could say.
    expected: Option<u64>,
}

impl Damage {
    fn new(reason: impl Into<String>) -> Self {
        Damage {
            reason: reason.into(),
            rows: Vec::new(),
            expected: None,
        }
    }
}

enum Found {
    Healthy(Opened),
    Damaged(Damage),
    Missing,
}

/// Opens the queue file at `path`, replacing it with a fresh one holding what could be salvaged
/// when it is damaged (counted in `counters`, logged for exporter `id`).
pub(super) fn open_or_replace(
    path: &Path,
    id: &str,
    counters: &StoreCounters,
) -> Result<Opened, StoreError> {
    let found = match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => Found::Damaged(Damage::new("the file is empty (0 bytes)")),
        Ok(_) => inspect(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Missing,
        Err(e) => return Err(StoreError::open(path, e)),
    };
    match found {
        Found::Healthy(opened) => Ok(opened),
        Found::Missing => {
            if marker(path).exists() {
                counters.damaged_files.inc();
                tracing::error!(exporter = id, file = %path.display(),
                    "persistent queue file missing after an unclean shutdown: what it held is lost; starting empty");
            }
            fresh(path, Vec::new())
        }
        Found::Damaged(damage) => replace(path, id, counters, damage),
    }
}

/// Opens and checks an existing, non-empty file.
fn inspect(path: &Path) -> Result<Found, StoreError> {
    let repaired = Arc::new(AtomicBool::new(false));
    let flag = repaired.clone();
    let opened = guarded(|| {
        Database::builder()
            .set_repair_callback(move |_| flag.store(true, Ordering::Relaxed))
            .create(path)
    });
    let mut db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) if !is_damage(&e) => return Err(StoreError::open(path, e)),
        Ok(Err(e)) => {
            return Ok(Found::Damaged(Damage::new(format!(
                "cannot be opened: {e}"
            ))))
        }
        Err(panic) => return Ok(Found::Damaged(Damage::new(panic))),
    };
    // A repair at open (after a crash) has verified every checksum already.
    let mut problem = None;
    if !repaired.load(Ordering::Relaxed) {
        match guarded(|| db.check_integrity()) {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!(file = %path.display(), "persistent queue file repaired")
            }
            Ok(Err(e)) => problem = Some(format!("integrity check failed: {e}")),
            Err(panic) => problem = Some(panic),
        }
    }
    let (rows, expected, read_error) = read_rows(&db);
    match problem.or(read_error) {
        None => Ok(Found::Healthy(Opened { db, rows })),
        Some(reason) => Ok(Found::Damaged(Damage {
            reason,
            rows,
            expected,
        })),
    }
}

/// Whether an error opening a file means the file is damaged (rather than locked or
/// inaccessible).
fn is_damage(e: &DatabaseError) -> bool {
    match e {
        DatabaseError::DatabaseAlreadyOpen => false,
        DatabaseError::Storage(StorageError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => true,
    }
}

/// Every record, in key order; on damage, those read before it, how many the table said it
/// held, and what went wrong. Keys must rise strictly: a damaged tree that loops is cut off.
fn read_rows(db: &Database) -> (Rows, Option<u64>, Option<String>) {
    let mut rows: Rows = Vec::new();
    let mut expected = None;
    let result = guarded(|| -> Result<(), String> {
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        expected = table.len().ok();
        for row in table.iter().map_err(|e| e.to_string())? {
            let (k, v) = row.map_err(|e| format!("reading a record: {e}"))?;
            let key = k.value();
            if rows.last().is_some_and(|(last, _)| key <= *last) {
                return Err(format!("record keys out of order at {key}"));
            }
            rows.push((key, v.value().to_vec()));
        }
        Ok(())
    });
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => Some(panic),
    };
    (rows, expected, error)
}

/// Moves a damaged file aside, counts the loss, and starts a fresh file with the records that
/// still check out.
fn replace(
    path: &Path,
    id: &str,
    counters: &StoreCounters,
    damage: Damage,
) -> Result<Opened, StoreError> {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let aside = quarantine(path)?;
    let read = damage.rows.len() as u64;
    let rows: Vec<_> = damage
        .rows
        .into_iter()
        .filter(|(_, raw)| check_record(raw).is_ok())
        .collect();
    let salvaged = rows.len() as u64;
    let lost = damage.expected.unwrap_or(read).max(read) - salvaged;
    counters.damaged_files.inc();
    counters.damaged_bytes.inc_by(bytes);
    counters.corrupt_records.inc_by(lost);
    let lost_records = match damage.expected {
        Some(_) => lost.to_string(),
        None if lost > 0 => format!("at least {lost}"),
        None => "unknown".to_string(),
    };
    tracing::error!(exporter = id, file = %path.display(), moved_to = %aside.display(), bytes,
        reason = %damage.reason, salvaged_records = salvaged, %lost_records,
        "persistent queue file damaged: moved aside; the queue goes on with the records that could be read back");
    fresh(path, rows)
}

/// Renames `path` to `<path>.corrupt-<unix seconds>` (with `-<n>` when that exists).
fn quarantine(path: &Path) -> Result<PathBuf, StoreError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut aside = path.with_file_name(format!("{name}.corrupt-{secs}"));
    let mut n = 1;
    while aside.exists() {
        aside = path.with_file_name(format!("{name}.corrupt-{secs}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &aside)
        .map_err(|e| StoreError::open(path, format!("moving the damaged file aside: {e}")))?;
    sync_dir(path);
    Ok(aside)
}

/// Creates a new file at `path` holding `rows` (durably, with its directory entry).
fn fresh(path: &Path, rows: Rows) -> Result<Opened, StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::open(path, e);
    let db = Database::create(path).map_err(|e| fail(&e))?;
    let mut txn = db.begin_write().map_err(|e| fail(&e))?;
    txn.set_durability(Durability::Immediate);
    {
        let mut table = txn.open_table(TABLE).map_err(|e| fail(&e))?;
        for (key, raw) in &rows {
            table.insert(*key, raw.as_slice()).map_err(|e| fail(&e))?;
        }
    }
    txn.commit().map_err(|e| fail(&e))?;
    sync_dir(path);
    Ok(Opened { db, rows })
}

/// `<file>.open`: present while a gateway has the queue open.
fn marker(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{name}.open"))
}

/// Marks the queue open (durably), so that a file missing at the next start after a crash is
/// known to be a loss.
pub(super) fn mark_open(path: &Path) -> Result<(), StoreError> {
    std::fs::write(marker(path), b"")
        .map_err(|e| StoreError::open(path, format!("writing {}: {e}", marker(path).display())))?;
    sync_dir(path);
    Ok(())
}

/// The queue was closed cleanly: the marker goes.
pub(super) fn mark_closed(path: &Path) {
    let _ = std::fs::remove_file(marker(path));
    sync_dir(path);
}

/// Makes renames and new files in `path`'s directory durable (best effort: some file systems
/// cannot sync a directory).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
