//! What the `codex_usage` connector remembers between requests: the running totals (one per
//! stream), the retry window of recently counted records, and their snapshot for a store.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The running totals, the retry window, and when stale entries were last swept.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) streams: HashMap<Vec<u8>, Stream>,
    pub(super) last_sweep: Option<Instant>,
    pub(super) recent: Recent,
}

/// One running total.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) start: u64,
    pub(super) last_seen: Instant,
    pub(super) value: Value,
}

/// What one stream holds: a sum or a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Value {
    Int(i64),
    Double(f64),
    Hist {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        buckets: Vec<u64>,
    },
}

impl Value {
    pub(super) fn add(&mut self, other: &Value) {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => *a = a.saturating_add(*b),
            (Value::Double(a), Value::Double(b)) => *a += b,
            (
                Value::Hist {
                    count,
                    sum,
                    min,
                    max,
                    buckets,
                },
                Value::Hist {
                    count: c2,
                    sum: s2,
                    min: mi2,
                    max: ma2,
                    buckets: b2,
                },
            ) => {
                *count += c2;
                *sum += s2;
                *min = min.min(*mi2);
                *max = max.max(*ma2);
                for (a, b) in buckets.iter_mut().zip(b2) {
                    *a += b;
                }
            }
            _ => {}
        }
    }

    /// The value as a double (sums only).
    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Double(d) => Some(*d),
            Value::Hist { .. } => None,
        }
    }
}

/// Records counted recently (their identity hashes), oldest first, for the retry window.
#[derive(Debug, Default)]
pub(super) struct Recent {
    seen: HashMap<u128, Instant>,
    order: VecDeque<(Instant, u128)>,
}

impl Recent {
    /// Forgets identities older than `window`; returns how many.
    pub(super) fn expire(&mut self, now: Instant, window: Duration) -> u64 {
        let mut n = 0;
        while let Some(&(t, id)) = self.order.front() {
            if now.saturating_duration_since(t) < window {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&id) == Some(&t) {
                self.seen.remove(&id);
            }
            n += 1;
        }
        n
    }

    /// `true` when `id` was counted within the window; otherwise remembers it, forgetting the
    /// oldest identities beyond `max` (their number is the second value).
    pub(super) fn check(&mut self, id: u128, now: Instant, max: usize) -> (bool, u64) {
        if self.seen.contains_key(&id) {
            return (true, 0);
        }
        let mut evicted = 0;
        while self.seen.len() >= max {
            let Some((t, old)) = self.order.pop_front() else {
                break;
            };
            if self.seen.get(&old) == Some(&t) {
                self.seen.remove(&old);
                evicted += 1;
            }
        }
        self.seen.insert(id, now);
        self.order.push_back((now, id));
        (false, evicted)
    }

    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// The connector's state as written to its store: every running total and the retry window,
/// with wall-clock times (`*_unix_nano`) so a restarted gateway continues where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSnapshot {
    /// Format version ([`SNAPSHOT_VERSION`]).
    pub version: u32,
    /// When the snapshot was taken.
    pub written_unix_nano: u64,
    streams: Vec<StreamSnapshot>,
    recent: Vec<RecentSnapshot>,
}

/// Version of [`UsageSnapshot`]'s format.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSnapshot {
    /// The stream key, hex.
    key: String,
    start_unix_nano: u64,
    last_seen_unix_nano: u64,
    value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentSnapshot {
    /// The record identity, hex.
    id: String,
    seen_unix_nano: u64,
}

/// `now_unix` minus the time since `then`, as wall-clock nanoseconds.
fn unix_of(then: Instant, now: Instant, now_unix: u64) -> u64 {
    let ago = now.saturating_duration_since(then).as_nanos();
    now_unix.saturating_sub(u64::try_from(ago).unwrap_or(u64::MAX))
}

/// The instant `unix` (wall clock) was, given that `now_unix` is `now`.
fn instant_of(unix: u64, now: Instant, now_unix: u64) -> Instant {
    let ago = Duration::from_nanos(now_unix.saturating_sub(unix));
    now.checked_sub(ago).unwrap_or(now)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl State {
    /// The snapshot of this state at `now` (= `now_unix`).
    pub(super) fn snapshot(&self, now: Instant, now_unix: u64) -> UsageSnapshot {
        let mut streams: Vec<StreamSnapshot> = self
            .streams
            .iter()
            .map(|(k, s)| StreamSnapshot {
                key: hex(k),
                start_unix_nano: s.start,
                last_seen_unix_nano: unix_of(s.last_seen, now, now_unix),
                value: s.value.clone(),
            })
            .collect();
        streams.sort_by(|a, b| a.key.cmp(&b.key));
        let recent = self
            .recent
            .order
            .iter()
            .filter(|(t, id)| self.recent.seen.get(id) == Some(t))
            .map(|(t, id)| RecentSnapshot {
                id: format!("{id:032x}"),
                seen_unix_nano: unix_of(*t, now, now_unix),
            })
            .collect();
        UsageSnapshot {
            version: SNAPSHOT_VERSION,
            written_unix_nano: now_unix,
            streams,
            recent,
        }
    }

    /// The state a snapshot describes, as of `now` (= `now_unix`); `Err` names what is wrong.
    pub(super) fn restore(
        snap: &UsageSnapshot,
        now: Instant,
        now_unix: u64,
    ) -> Result<State, String> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot format {} (this gateway reads {SNAPSHOT_VERSION})",
                snap.version
            ));
        }
        let mut state = State::default();
        for s in &snap.streams {
            let key = unhex(&s.key).ok_or_else(|| format!("stream key {:?} is not hex", s.key))?;
            state.streams.insert(
                key,
                Stream {
                    start: s.start_unix_nano,
                    last_seen: instant_of(s.last_seen_unix_nano, now, now_unix),
                    value: s.value.clone(),
                },
            );
        }
        for r in &snap.recent {
            let id = u128::from_str_radix(&r.id, 16)
                .map_err(|_| format!("record id {:?} is not hex", r.id))?;
            let t = instant_of(r.seen_unix_nano, now, now_unix);
            state.recent.seen.insert(id, t);
            state.recent.order.push_back((t, id));
        }
        Ok(state)
    }
}
