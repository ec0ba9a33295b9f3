//! CPU time and peak memory of this process (`getrusage(RUSAGE_SELF)`, all threads) or of its
//! exited children (`RUSAGE_CHILDREN`).

use std::time::Duration;

/// One `getrusage` reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// User + system CPU time of every thread so far.
    pub cpu: Duration,
    /// Peak resident set size so far, in KiB (Linux's unit for `ru_maxrss`).
    pub max_rss_kib: i64,
}

/// Reads this process's usage; zeros if the call fails (it does not on Linux).
pub fn self_usage() -> Usage {
    usage(libc::RUSAGE_SELF)
}

/// The usage of this process's children that have exited and been waited for: CPU time summed,
/// peak RSS of the largest one. Run one child per process to get that child's own figures.
pub fn children_usage() -> Usage {
    usage(libc::RUSAGE_CHILDREN)
}

/// This process's resident set size now, in KiB (`/proc/self/statm`'s second field × page
/// size); `None` where there is no `/proc` (not Linux).
pub fn current_rss_kib() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: `sysconf` reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page > 0).then(|| pages * page / 1024)
}

/// The C heap (glibc malloc, every arena), in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heap {
    /// Bytes in allocated chunks (live allocations plus malloc's per-chunk overhead).
    pub in_use_kib: i64,
    /// Free chunks malloc keeps in its arenas (resident once touched).
    pub free_kib: i64,
    /// Large allocations served by `mmap` (128 KiB and up by default).
    pub mmapped_kib: i64,
}

/// glibc's `mallinfo2` summed over arenas; `None` with another libc.
pub fn heap() -> Option<Heap> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` takes no arguments and returns a plain struct.
        let m = unsafe { libc::mallinfo2() };
        let kib = |b: usize| i64::try_from(b / 1024).unwrap_or(i64::MAX);
        Some(Heap {
            in_use_kib: kib(m.uordblks),
            free_kib: kib(m.fordblks),
            mmapped_kib: kib(m.hblkhd),
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

fn usage(who: libc::c_int) -> Usage {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a `rusage`, `who` is RUSAGE_SELF or RUSAGE_CHILDREN.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    if rc != 0 {
        return Usage {
            cpu: Duration::ZERO,
            max_rss_kib: 0,
        };
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = self_usage();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = self_usage();
        assert!(after.cpu > before.cpu);
        assert!(after.max_rss_kib > 0);
    }

    #[test]
    fn current_rss_is_at_most_the_peak() {
        let now = current_rss_kib().expect("Linux has /proc/self/statm");
        // The two are sampled differently (statm now, the kernel's high-water mark lazily), so
        // only their order of magnitude agrees.
        let peak = self_usage().max_rss_kib;
        assert!(now > 0 && now <= 2 * peak, "{now} KiB now, {peak} KiB peak");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn heap_in_use_grows_with_live_allocations() {
        let before = heap().expect("glibc").in_use_kib;
        let live: Vec<Box<[u8; 64]>> = (0..20_000).map(|_| Box::new([1u8; 64])).collect();
        let after = heap().expect("glibc").in_use_kib;
        assert!(after - before >= 20_000 * 64 / 1024, "{before} -> {after}");
        drop(live);
    }
}
