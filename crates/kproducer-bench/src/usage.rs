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
}
