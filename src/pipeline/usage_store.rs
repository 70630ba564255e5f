//! The `codex_usage` connector's store: with `storage: { directory }` its running totals and
//! retry window live in `<directory>/<connector id>.json`, read once when the gateway starts
//! and written atomically (temporary file, fsync, rename, fsync of the folder) every
//! `storage.interval` and when the connector goes away (shutdown, or a reload that replaced it:
//! the new connector shares the same state and keeps writing it).
//!
//! The writer is a thread of its own (the connector is called from receiver tasks and has no
//! runtime of its own); a failed write is logged and counted as
//! `gateway_processor_events_total{processor=<connector id>, event="store_write_failed"}`, and
//! the next interval tries again. One process at a time owns a state file: it creates
//! `<file>.lock` (holding its pid; removed when the store goes, handed from the old connector to
//! the new one at a reload), so a second gateway (or `ingest`) configured with the same folder
//! fails at start instead of overwriting the totals. A lock left by a process that is gone (a
//! crash) is taken over; where `/proc` is missing, liveness cannot be told and the error asks to
//! remove the file.

use crate::telemetry::metrics::SelfMetrics;
use processors::codex_usage::{CodexUsage, CodexUsageConfig, UsageSnapshot};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// Why a connector's store could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder could not be created.
    #[error("storage.directory {path}: cannot create: {source}")]
    Directory {
        /// The folder.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The state file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Another process holds the state file's lock.
    #[error("{path}: the usage state is in use by another codex-otel-gateway process (pid {pid}; each needs its own storage.directory; if no such process runs, remove the file)")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The pid written in it.
        pid: String,
    },
    /// The lock file could not be opened or locked.
    #[error("{path}: cannot lock: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the usage state writer: {0}")]
    Thread(std::io::Error),
    /// The state file is not a state this gateway wrote (remove it to start from zero).
    #[error(
        "{path}: not a codex_usage state file ({reason}); remove it to start the totals from zero"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A running store: the writer thread, stopped (after a last write) when dropped, and the
/// state file's lock.
pub struct UsageStore {
    path: PathBuf,
    lock: Arc<LockFile>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for UsageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageStore")
    }
}

/// `<directory>/<connector id>.json`, the id's `/` written as `_`.
pub fn state_path(directory: &str, id: &str) -> PathBuf {
    Path::new(directory).join(format!("{}.json", id.replace('/', "_")))
}

/// Opens the store of connector `id`: creates the folder, locks the state file and, unless the
/// connector continues one a reload replaced (`previous`: its state, and its store if it had
/// one), loads the state file into `usage` if there is one; then starts the writer.
pub fn open(
    id: &str,
    cfg: &CodexUsageConfig,
    usage: &CodexUsage,
    previous: Option<Option<&UsageStore>>,
    metrics: &SelfMetrics,
) -> Result<Option<UsageStore>, StoreError> {
    let Some(st) = &cfg.storage else {
        return Ok(None);
    };
    std::fs::create_dir_all(&st.directory).map_err(|source| StoreError::Directory {
        path: PathBuf::from(&st.directory),
        source,
    })?;
    let path = state_path(&st.directory, id);
    let lock = match previous.flatten().filter(|p| p.path == path) {
        Some(p) => Arc::clone(&p.lock),
        None => Arc::new(lock(&path)?),
    };
    if previous.is_none() {
        load(&path, usage)?;
    }
    // The writer's own handle on the same state.
    let Ok(writer) = cfg.build_continuing(Some(usage)) else {
        return Ok(None);
    };
    let (stop, stopped) = mpsc::channel::<()>();
    let interval = st.interval;
    let (name, file, metrics) = (id.to_string(), path.clone(), metrics.clone());
    let thread = std::thread::Builder::new()
        .name(format!("store {id}"))
        .spawn(move || loop {
            let last = !matches!(
                stopped.recv_timeout(interval),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            if let Err(e) = write(&file, &writer.snapshot()) {
                tracing::warn!(connector = %name, file = %file.display(), "cannot write the usage state: {e}");
                metrics.processor_event(&name, "store_write_failed", "storage", 1);
            }
            if last {
                break;
            }
        })
        .map_err(StoreError::Thread)?;
    Ok(Some(UsageStore {
        path,
        lock,
        stop: Some(stop),
        thread: Some(thread),
    }))
}

/// `<state file>.lock`, created by this process; removed when dropped.
#[derive(Debug)]
struct LockFile(PathBuf);

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Creates `<state file>.lock` holding this process's pid; a lock of a process that is gone is
/// taken over.
fn lock(state: &Path) -> Result<LockFile, StoreError> {
    let path = state.with_extension("json.lock");
    let err = |source| StoreError::Lock {
        path: path.clone(),
        source,
    };
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(std::process::id().to_string().as_bytes())
                    .map_err(err)?;
                return Ok(LockFile(path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                let pid = pid.trim().to_string();
                let alive = !Path::new("/proc").is_dir()
                    || pid.is_empty()
                    || Path::new("/proc").join(&pid).exists();
                if alive {
                    return Err(StoreError::Locked { path, pid });
                }
                tracing::warn!(file = %path.display(), pid = %pid, "taking over the usage state lock of a process that is gone");
                std::fs::remove_file(&path).map_err(err)?;
            }
            Err(e) => return Err(err(e)),
        }
    }
    Err(StoreError::Locked {
        path,
        pid: String::new(),
    })
}

impl Drop for UsageStore {
    /// Stops the writer after one last write.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn load(path: &Path, usage: &CodexUsage) -> Result<(), StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let snap: UsageSnapshot = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    usage.restore(&snap).map_err(corrupt)?;
    tracing::info!(file = %path.display(), streams = usage.stream_count(), "codex_usage totals restored");
    Ok(())
}

/// Writes `snap` to `path` atomically.
fn write(path: &Path, snap: &UsageSnapshot) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let body = serde_json::to_vec(snap).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!(
        "json.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
