//! This process's resources: resident set size (Linux `/proc`) and live heap bytes (jemalloc,
//! the binary's global allocator), read by the memory limiter and the self-metrics; and the
//! file descriptor limit, raised at start-up.

/// Resident set size of this process, from `/proc/self/status` (Linux).
pub fn read_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Live heap bytes: jemalloc's `stats.allocated`. In a process whose global allocator is not
/// jemalloc (unit tests) it reads 0, treated as unknown (`None`).
pub fn read_heap() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().ok()? as u64;
    (allocated > 0).then_some(allocated)
}

/// The open-file limits after start-up: `(soft, hard)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    /// The soft limit before it was raised.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit (every listener and queue file needs
/// descriptors; the default soft limit is often 1024).
pub fn raise_fd_limit() -> std::io::Result<FdLimits> {
    let (before, hard) = rlimit::Resource::NOFILE.get()?;
    if before < hard {
        rlimit::Resource::NOFILE.set(hard, hard)?;
    }
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(FdLimits { before, soft, hard })
}
