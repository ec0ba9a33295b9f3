//! Rate-limited log lines (sans-IO: time is passed in), so an error storm logs one line per kind
//! per interval instead of one per batch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One line per key per `interval`; the lines held back are counted and reported with the next.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    interval: Duration,
    last: HashMap<&'static str, (Instant, u64)>,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        LogLimiter {
            interval,
            last: HashMap::new(),
        }
    }

    /// `Some(n)`: log now (`n` lines were held back since the last one); `None`: hold it back.
    pub(crate) fn allow(&mut self, key: &'static str, now: Instant) -> Option<u64> {
        match self.last.get_mut(key) {
            Some((at, held)) if now.saturating_duration_since(*at) < self.interval => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let n = *held;
                *at = now;
                *held = 0;
                Some(n)
            }
            None => {
                self.last.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_per_interval_and_the_held_back_are_counted() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(l.allow("A", t0), Some(0));
        assert_eq!(l.allow("A", t0 + Duration::from_secs(1)), None);
        assert_eq!(
            l.allow("B", t0 + Duration::from_secs(1)),
            Some(0),
            "per key"
        );
        assert_eq!(l.allow("A", t0 + Duration::from_secs(9)), None);
        assert_eq!(l.allow("A", t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(l.allow("A", t0 + Duration::from_secs(11)), None);
    }
}
