//! Admission control (`processors: memory_limiter:`, listed first in a pipeline): the receivers
//! feeding that pipeline refuse new requests *before reading or decoding them* while the gateway
//! holds too much — HTTP 503 + `Retry-After`, gRPC UNAVAILABLE + `RetryInfo` — so clients back off
//! and retry instead of the gateway running out of memory. Every `check_interval` the limiter
//! samples the live heap (jemalloc's `stats.allocated`, the gateway's global allocator) and the
//! process RSS. A request is refused while the live heap is at or above `limit - spike_limit`,
//! while the RSS is at or above `limit`, or while the exporters' queues hold `limit` encoded
//! bytes. The live heap, unlike RSS, falls as soon as queued data is delivered, so intake resumes
//! at the rate the backends drain.

use crate::base::process::{read_heap, read_rss};
use crate::exporters::queue::Capacity;
use processors::units::{ByteSize, ConfigDuration};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `processors: memory_limiter[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// The memory the gateway should stay under. Required.
    pub limit: ByteSize,
    /// Head-room kept for the requests in flight when refusing starts. Default 20% of `limit`.
    #[serde(default)]
    pub spike_limit: Option<ByteSize>,
    /// How often the process RSS is read. Default `100ms`.
    #[serde(default = "default_interval")]
    pub check_interval: ConfigDuration,
}

fn default_interval() -> ConfigDuration {
    ConfigDuration(Duration::from_millis(100))
}

impl MemoryLimiterConfig {
    /// Problems with this config: `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.limit.0 < 16 * 1024 * 1024 {
            out.push(("limit", "must be at least 16MiB".to_string()));
        }
        if self.spike_limit.is_some_and(|s| s.0 >= self.limit.0) {
            out.push(("spike_limit", "must be below limit".to_string()));
        }
        if self.check_interval.0.is_zero() {
            out.push(("check_interval", "must be above 0".to_string()));
        }
        out
    }

    fn soft_limit(&self) -> u64 {
        let spike = self.spike_limit.map(|s| s.0).unwrap_or(self.limit.0 / 5);
        self.limit.0.saturating_sub(spike)
    }
}

/// One memory limiter, shared by the receivers of its pipelines.
pub struct Admission {
    limit: u64,
    soft: u64,
    interval: Duration,
    rss: AtomicU64,
    heap: AtomicU64,
    /// Bytes promised to requests being decoded and processed (their estimated decoded size),
    /// not yet visible in the sampled heap.
    reserved: AtomicU64,
    queues: Vec<Arc<Capacity>>,
    /// Reads the live heap now (jemalloc's count; replaced in tests).
    heap_now: fn() -> Option<u64>,
}

/// Why a limiter would not reserve memory for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not now: the memory is in use; the client should retry later (503).
    Busy,
    /// Never: the request alone would take more than the limit (413).
    TooLarge,
}

/// Memory reserved for one request's decoded form; given back when dropped.
pub struct Reservation {
    limiter: Arc<Admission>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.limiter
            .reserved
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Admission {
    /// A limiter watching the queues of every exporter.
    pub fn new(cfg: &MemoryLimiterConfig, queues: Vec<Arc<Capacity>>) -> Self {
        Admission {
            limit: cfg.limit.0,
            soft: cfg.soft_limit(),
            interval: cfg.check_interval.0,
            rss: AtomicU64::new(read_rss().unwrap_or(0)),
            heap: AtomicU64::new(read_heap().unwrap_or(0)),
            reserved: AtomicU64::new(0),
            queues,
            heap_now: read_heap,
        }
    }

    /// Reserves `bytes` for one request about to be decoded: granted while the live heap plus
    /// what is already reserved plus `bytes` stays under the soft limit, or, for the only
    /// request holding a reservation, under the hard limit (so a request as large as the soft
    /// limit can still come in). The reservation is given back when the request is answered.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, Refusal> {
        if bytes > self.soft {
            return Err(Refusal::TooLarge);
        }
        match self.try_reserve(bytes) {
            // The heap sample may be up to `check_interval` old and hold what is already gone
            // (a request body's chunks, joined and freed just before): read it now before
            // refusing.
            Err(Refusal::Busy) => {
                if let Some(heap) = (self.heap_now)() {
                    self.heap.store(heap, Ordering::Relaxed);
                }
                self.try_reserve(bytes)
            }
            other => other,
        }
    }

    /// [`Admission::reserve`] against the heap as last sampled.
    fn try_reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, Refusal> {
        let heap = self.heap.load(Ordering::Relaxed);
        let mut current = self.reserved.load(Ordering::Relaxed);
        loop {
            let total = heap.saturating_add(current).saturating_add(bytes);
            let ceiling = if current == 0 { self.limit } else { self.soft };
            if total >= ceiling {
                return Err(Refusal::Busy);
            }
            match self.reserved.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(Reservation {
                        limiter: self.clone(),
                        bytes,
                    })
                }
                Err(now) => current = now,
            }
        }
    }

    /// Whether a new request may come in.
    pub fn admit(&self) -> bool {
        let queued: u64 = self.queues.iter().map(|c| c.bytes()).sum();
        queued < self.limit
            && self.heap.load(Ordering::Relaxed) < self.soft
            && self.rss.load(Ordering::Relaxed) < self.limit
    }

    /// Samples the RSS until the returned future is dropped.
    pub async fn sample(self: Arc<Self>) {
        loop {
            if let Some(rss) = read_rss() {
                self.rss.store(rss, Ordering::Relaxed);
            }
            if let Some(heap) = read_heap() {
                self.heap.store(heap, Ordering::Relaxed);
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// Whether every limiter admits a new request.
pub fn admit_all(limiters: &[Arc<Admission>]) -> bool {
    limiters.iter().all(|a| a.admit())
}

/// Reserves `bytes` once with every distinct limiter (all or none; pipelines sharing one
/// memory_limiter share its budget).
pub fn reserve_all(limiters: &[Arc<Admission>], bytes: u64) -> Result<Vec<Reservation>, Refusal> {
    let mut held: Vec<Reservation> = Vec::with_capacity(limiters.len());
    for limiter in limiters {
        if held.iter().any(|r| Arc::ptr_eq(&r.limiter, limiter)) {
            continue;
        }
        held.push(limiter.reserve(bytes)?);
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(limit_mib: u64) -> MemoryLimiterConfig {
        MemoryLimiterConfig {
            limit: ByteSize::mib(limit_mib),
            spike_limit: None,
            check_interval: default_interval(),
        }
    }

    #[test]
    fn refuses_on_live_heap_over_the_soft_limit_rss_over_the_limit_or_full_queues() {
        let cap = Arc::new(Capacity::new(1000, u64::MAX));
        let a = Admission::new(&cfg(100), vec![cap.clone()]);
        a.rss.store(10 << 20, Ordering::Relaxed);
        a.heap.store(10 << 20, Ordering::Relaxed);
        assert!(a.admit());
        assert!(cap.try_acquire(100 << 20));
        assert!(!a.admit(), "queued bytes at the limit");
        cap.release(100 << 20);
        a.heap.store(80 << 20, Ordering::Relaxed);
        assert!(!a.admit(), "live heap at limit - spike (20%)");
        a.heap.store(79 << 20, Ordering::Relaxed);
        assert!(a.admit());
        a.rss.store(100 << 20, Ordering::Relaxed);
        assert!(!a.admit(), "RSS at the hard limit");
    }

    #[test]
    fn reservations_share_one_budget_and_are_given_back_when_dropped() {
        let a = Arc::new(Admission {
            heap_now: || None,
            ..Admission::new(&cfg(100), Vec::new())
        });
        a.heap.store(10 << 20, Ordering::Relaxed);
        assert_eq!(
            a.reserve(81 << 20).err(),
            Some(Refusal::TooLarge),
            "over the soft limit"
        );
        let alone = a.reserve(75 << 20).expect("alone, under the hard limit");
        assert_eq!(
            a.reserve(1 << 20).err(),
            Some(Refusal::Busy),
            "soft limit reached"
        );
        drop(alone);
        let twice = reserve_all(&[a.clone(), a.clone()], 30 << 20).expect("one limiter, once");
        assert_eq!(twice.len(), 1);
        let second = a.reserve(30 << 20).expect("10 + 30 + 30 under 80");
        assert_eq!(a.reserve(30 << 20).err(), Some(Refusal::Busy));
        drop((twice, second));
        assert!(a.reserve(60 << 20).is_ok(), "all given back");
    }

    #[test]
    fn reads_this_process_rss() {
        assert!(read_rss().is_some_and(|r| r > 0));
    }

    #[test]
    fn config_problems_are_named() {
        let mut c = cfg(1);
        c.spike_limit = Some(ByteSize::mib(2));
        let fields: Vec<_> = c.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["limit", "spike_limit"]);
    }

    #[test]
    fn a_stale_heap_sample_is_read_again_before_a_reservation_is_refused() {
        let a = Arc::new(Admission {
            heap_now: || Some(10 << 20),
            ..Admission::new(&cfg(100), Vec::new())
        });
        // Sampled while a body was being joined (its chunks and the copy), since freed.
        a.heap.store(70 << 20, Ordering::Relaxed);
        let r = a
            .reserve(35 << 20)
            .expect("10 + 35 under the hard limit, read now");
        assert_eq!(a.heap.load(Ordering::Relaxed), 10 << 20);
        drop(r);
        let busy = Arc::new(Admission {
            heap_now: || Some(90 << 20),
            ..Admission::new(&cfg(100), Vec::new())
        });
        busy.heap.store(70 << 20, Ordering::Relaxed);
        assert_eq!(busy.reserve(35 << 20).err(), Some(Refusal::Busy));
    }
}
