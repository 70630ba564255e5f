//! This process's resource use, read by the memory limiter and the self-metrics: resident set
//! size (Linux `/proc`) and live heap bytes (jemalloc, the binary's global allocator).

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
