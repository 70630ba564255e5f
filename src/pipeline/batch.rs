//! The `batch` processor: the last stage of a pipeline, after the in-place processors and before
//! the fan-out. It merges processed requests (joining equal resources and scopes) until
//! `send_batch_size` items or `timeout` since the first one, then hands batches of at most
//! `send_batch_max_size` items to the exporter queues. Never waits: adding takes a short lock;
//! a flusher task sends what timed out and everything left at shutdown.

use crate::codec::Payload;
use processors::units::{self, ConfigDuration};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `processors: batch[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send once this many items (spans, data points, log records) are pending. Default 8192.
    #[serde(default = "default_size", deserialize_with = "units::uint")]
    pub send_batch_size: usize,
    /// Split anything larger into batches of at most this many items; 0 = no limit (default).
    #[serde(default, deserialize_with = "units::uint")]
    pub send_batch_max_size: usize,
    /// Send what is pending this long after its first item arrived. Default `200ms`.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: default_size(),
            send_batch_max_size: 0,
            timeout: default_timeout(),
        }
    }
}

fn default_size() -> usize {
    8192
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_millis(200))
}

impl BatchConfig {
    /// Problems with this config: `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.send_batch_size == 0 {
            out.push(("send_batch_size", "must be at least 1".to_string()));
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            out.push((
                "send_batch_max_size",
                "must be 0 (no limit) or at least send_batch_size".to_string(),
            ));
        }
        if self.timeout.0.is_zero() {
            out.push(("timeout", "must be above 0".to_string()));
        }
        out
    }
}

/// One pipeline's pending batch.
pub struct Batcher {
    cfg: BatchConfig,
    pending: Mutex<Option<(Payload, Instant)>>,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(cfg: &BatchConfig) -> Self {
        Batcher {
            cfg: cfg.clone(),
            pending: Mutex::new(None),
        }
    }

    /// How often the flusher should look for timed-out batches.
    pub fn tick(&self) -> Duration {
        (self.cfg.timeout.0 / 4).max(Duration::from_millis(5))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Payload, Instant)>> {
        // A panic while holding the lock cannot leave a half-merged batch worth refusing.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a processed request; returns the batches that are ready now.
    pub fn add(&self, payload: Payload) -> Vec<Payload> {
        let mut pending = self.lock();
        let full = match pending.as_mut() {
            Some((acc, _)) => {
                acc.absorb(payload);
                acc.item_count() >= self.cfg.send_batch_size
            }
            None => {
                let full = payload.item_count() >= self.cfg.send_batch_size;
                *pending = Some((payload, Instant::now()));
                full
            }
        };
        if full {
            self.split(pending.take())
        } else {
            Vec::new()
        }
    }

    /// The pending batch if its timeout has passed.
    pub fn take_due(&self, now: Instant) -> Vec<Payload> {
        let mut pending = self.lock();
        let due = pending
            .as_ref()
            .is_some_and(|(_, since)| now.duration_since(*since) >= self.cfg.timeout.0);
        if due {
            self.split(pending.take())
        } else {
            Vec::new()
        }
    }

    /// Everything pending (shutdown).
    pub fn take_all(&self) -> Vec<Payload> {
        let taken = self.lock().take();
        self.split(taken)
    }

    fn split(&self, taken: Option<(Payload, Instant)>) -> Vec<Payload> {
        match taken {
            Some((p, _)) => p.split(self.cfg.send_batch_max_size),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;

    fn logs() -> Payload {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        ExportLogsServiceRequest::decode(body.as_slice())
            .expect("decode")
            .into()
    }

    fn cfg(size: usize, max: usize, timeout_ms: u64) -> BatchConfig {
        BatchConfig {
            send_batch_size: size,
            send_batch_max_size: max,
            timeout: ConfigDuration(Duration::from_millis(timeout_ms)),
        }
    }

    #[test]
    fn sends_once_the_size_is_reached_and_splits_at_the_maximum() {
        let n = logs().item_count();
        let b = Batcher::new(&cfg(2 * n, 2 * n - 5, 10_000));
        assert!(b.add(logs()).is_empty(), "below the size: held");
        let out = b.add(logs());
        assert_eq!(out.len(), 2);
        assert_eq!(out.iter().map(Payload::item_count).sum::<usize>(), 2 * n);
        assert!(out.iter().all(|p| p.item_count() <= 2 * n - 5));
        assert!(b.take_all().is_empty());
    }

    #[test]
    fn sends_after_the_timeout_and_everything_at_shutdown() {
        let b = Batcher::new(&cfg(1_000_000, 0, 50));
        assert!(b.add(logs()).is_empty());
        assert!(b.take_due(Instant::now()).is_empty(), "not yet due");
        let later = Instant::now() + Duration::from_millis(60);
        assert_eq!(b.take_due(later).len(), 1);
        b.add(logs());
        assert_eq!(b.take_all().len(), 1);
    }

    #[test]
    fn config_problems_are_named_by_field() {
        let fields: Vec<_> = cfg(0, 0, 0).problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["send_batch_size", "timeout"]);
        assert_eq!(cfg(100, 10, 5).problems()[0].0, "send_batch_max_size");
    }
}
