//! Long-running ("soak") versions of the robustness tests. `scripts/soak` sets `SOAK_MINUTES`;
//! a test then repeats its rounds (backend kills, damaged files, disk-full cycles) until that
//! much time has passed, instead of the few bounded rounds it runs in CI.

use std::time::{Duration, Instant};

/// How long a soak run lasts, from `SOAK_MINUTES` (a positive number); `None` for the short
/// (CI) version.
pub fn duration() -> Option<Duration> {
    let minutes: f64 = std::env::var("SOAK_MINUTES").ok()?.trim().parse().ok()?;
    (minutes > 0.0).then(|| Duration::from_secs_f64(minutes * 60.0))
}

/// The rounds of a test: `short` rounds, or as many as start within the soak duration.
pub struct Rounds {
    done: usize,
    short: usize,
    until: Option<Instant>,
}

impl Rounds {
    /// `short` rounds outside a soak run.
    pub fn new(short: usize) -> Rounds {
        Rounds {
            done: 0,
            short,
            until: duration().map(|d| Instant::now() + d),
        }
    }

    /// Whether another round starts; counts it.
    pub fn next(&mut self) -> bool {
        let more = match self.until {
            Some(until) => self.done == 0 || Instant::now() < until,
            None => self.done < self.short,
        };
        if more {
            self.done += 1;
        }
        more
    }

    /// Rounds started so far.
    pub fn done(&self) -> usize {
        self.done
    }
}
