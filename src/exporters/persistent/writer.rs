//! The writer thread of a persistent queue: folds appends and deletes into group commits
//! (appends fsynced, deletes of delivered batches cheap), acknowledges appends once committed
//! and hands them to the workers.
//!
//! A failed commit (disk full, I/O error) refuses that commit's new data and leaves the stored
//! data as it was. redb refuses every later write on a handle that saw an I/O error ("Previous
//! I/O error occurred"), so the writer drops the handle and reopens the file (redb verifies it
//! as after a crash). While commits fail, a commit is tried again at most once per
//! `recovery_interval` — on the next append, and on a timer while deletes wait — and appends in
//! between are refused at once; deletes are kept and retried until committed, alone if the new
//! data does not fit, so delivered batches are not sent again after a restart. The first
//! success with new data ends the episode (logged). Failures are counted and logged as ERROR at
//! most once per [`LOG_INTERVAL`].

use super::{encode_record, guarded, Append, Op, StoreCounters, GROUP, TABLE};
use crate::exporters::queue::Entry;
use redb::{Database, Durability};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failed commits are logged at most this often; the rest are counted
/// (`gateway_exporter_queue_write_failures_total`) and summed up in the next log line.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The state of one queue's writer thread.
pub(super) struct Writer {
    path: PathBuf,
    id: Arc<str>,
    /// `None` after a failure, until reopened.
    db: Option<Database>,
    next_key: u64,
    /// Deletes of delivered batches not committed yet.
    deletes: Vec<u64>,
    recovery_interval: Duration,
    failing: Option<Failing>,
    counters: Arc<StoreCounters>,
}

/// An episode of failing commits.
struct Failing {
    since: Instant,
    last_attempt: Instant,
    failures: u64,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Writer {
    /// A writer for the open database `db` of exporter `id` at `path`.
    pub(super) fn new(
        path: PathBuf,
        id: Arc<str>,
        db: Database,
        next_key: u64,
        recovery_interval: Duration,
        counters: Arc<StoreCounters>,
    ) -> Self {
        Writer {
            path,
            id,
            db: Some(db),
            next_key,
            deletes: Vec::new(),
            recovery_interval,
            failing: None,
            counters,
        }
    }

    /// Commits what arrives until every handle is gone; returns whether the file was left
    /// healthy, with every delete committed.
    pub(super) fn run(mut self, rx: Receiver<Op>) -> bool {
        loop {
            let first = if self.failing.is_some() && !self.deletes.is_empty() {
                match rx.recv_timeout(self.recovery_interval) {
                    Ok(op) => Some(op),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(op) => Some(op),
                    Err(_) => break,
                }
            };
            let mut appends = Vec::new();
            let (mut next, mut taken) = (first, 0);
            while let Some(op) = next {
                match op {
                    Op::Append(a) => appends.push(a),
                    Op::Delete(key) => self.deletes.push(key),
                }
                taken += 1;
                next = if taken < GROUP {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit(appends);
        }
        self.finish()
    }

    /// One group commit: the appends (acknowledged and handed on if it works, refused if not)
    /// and every pending delete.
    fn commit(&mut self, appends: Vec<Append>) {
        if appends.is_empty() && self.deletes.is_empty() {
            return;
        }
        if let Some(f) = &mut self.failing {
            if f.last_attempt.elapsed() < self.recovery_interval {
                refuse_all(
                    appends,
                    "persistent queue write failed recently: new data refused",
                );
                return;
            }
            f.last_attempt = Instant::now();
        }
        if self.db.is_none() && !self.reopen() {
            refuse_all(appends, "persistent queue cannot be reopened");
            return;
        }
        let with_appends = !appends.is_empty();
        match self.write(&appends, with_appends) {
            Ok(()) => {
                self.deletes.clear();
                if with_appends {
                    self.recovered();
                }
                for append in appends {
                    let key = self.next_key;
                    self.next_key += 1;
                    append.feed.push(Entry {
                        batch: append.batch,
                        bytes: append.bytes,
                        key: Some(key),
                    });
                    let _ = append.ack.send(Ok(()));
                }
            }
            Err(e) => {
                self.failed(&e);
                refuse_all(appends, &e);
                // Deletes alone may still fit in the file's free pages.
                if with_appends && !self.deletes.is_empty() && self.reopen() {
                    match self.write(&[], false) {
                        Ok(()) => self.deletes.clear(),
                        Err(e) => self.failed(&e),
                    }
                }
            }
        }
    }

    /// Writes `appends` (under the next keys) and the pending deletes in one transaction;
    /// `durable`: fsync before returning.
    fn write(&mut self, appends: &[Append], durable: bool) -> Result<(), String> {
        let Some(db) = &self.db else {
            return Err("persistent queue is not open".into());
        };
        let (first, deletes) = (self.next_key, &self.deletes);
        let result = guarded(|| -> Result<(), Box<redb::Error>> {
            let mut txn = db.begin_write().map_err(redb::Error::from)?;
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::Eventual
            });
            {
                let mut table = txn.open_table(TABLE).map_err(redb::Error::from)?;
                for (key, append) in (first..).zip(appends) {
                    table
                        .insert(key, encode_record(&append.batch).as_slice())
                        .map_err(redb::Error::from)?;
                }
                for key in deletes {
                    table.remove(*key).map_err(redb::Error::from)?;
                }
            }
            txn.commit().map_err(redb::Error::from)?;
            Ok(())
        });
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(panic),
        }
    }

    /// Drops the handle (poisoned by the failure), counts the failure and logs it at most once
    /// per [`LOG_INTERVAL`].
    fn failed(&mut self, error: &str) {
        self.counters.write_failures.inc();
        self.close();
        let now = Instant::now();
        let f = self.failing.get_or_insert(Failing {
            since: now,
            last_attempt: now,
            failures: 0,
            last_log: None,
            unlogged: 0,
        });
        f.failures += 1;
        if f.last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL)
        {
            tracing::error!(exporter = %self.id, error, failed_commits = f.failures,
                not_logged = f.unlogged, retry_every = ?self.recovery_interval,
                "persistent queue write failed: new data refused until a write succeeds");
            f.last_log = Some(now);
            f.unlogged = 0;
        } else {
            f.unlogged += 1;
        }
    }

    /// A commit with new data worked: the failing episode is over.
    fn recovered(&mut self) {
        if let Some(f) = self.failing.take() {
            tracing::info!(exporter = %self.id, failed_commits = f.failures,
                after = ?f.since.elapsed(), "persistent queue writable again: new data accepted");
        }
    }

    /// Opens the file again (redb checks and repairs it as after a crash). A damaged file is
    /// not replaced while running: that waits for the next start.
    fn reopen(&mut self) -> bool {
        self.close();
        match guarded(|| Database::create(&self.path)) {
            Ok(Ok(db)) => {
                self.db = Some(db);
                true
            }
            Ok(Err(e)) => {
                self.failed(&format!("reopening: {e}"));
                false
            }
            Err(panic) => {
                self.failed(&format!("reopening: {panic}"));
                false
            }
        }
    }

    fn close(&mut self) {
        let old = self.db.take();
        let _ = guarded(move || drop(old));
    }

    /// Every handle is gone: commit the last deletes durably. Returns whether that worked.
    fn finish(mut self) -> bool {
        if self.db.is_none() && !self.reopen() {
            return false;
        }
        match self.write(&[], true) {
            Ok(()) => true,
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }
}

fn refuse_all(appends: Vec<Append>, why: &str) {
    for append in appends {
        append.refuse(why);
    }
}
