//! Java's `ExponentialBackoff` (KIP-580), with a deterministic jitter source: every backoff of the
//! producer (retries, InitProducerId, metadata refreshes, reconnects) goes through one of these.

use std::time::Duration;

/// `initial * multiplier^attempts`, ±`jitter`, capped at `max`; `initial` itself is capped at
/// `max` (so `retry.backoff.ms` above `retry.backoff.max.ms` gives a static `max`, as Java's
/// warning says).
///
/// ```ignore
/// let b = ExponentialBackoff::new(ms(100), 2, ms(1000), 0.0);
/// assert_eq!(b.backoff(0, &mut Jitter::new(1)), ms(100));
/// assert_eq!(b.backoff(3, &mut Jitter::new(1)), ms(800));
/// assert_eq!(b.backoff(9, &mut Jitter::new(1)), ms(1000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ExponentialBackoff {
    initial: f64,
    multiplier: f64,
    max: f64,
    jitter: f64,
    /// Attempts past which the exponential part stops growing (0: static backoff).
    exp_max: f64,
}

impl ExponentialBackoff {
    /// Java's constructor: `initial` is capped at `max`.
    pub(crate) fn new(initial: Duration, multiplier: u32, max: Duration, jitter: f64) -> Self {
        let max_ms = max.as_secs_f64() * 1000.0;
        let initial_ms = (initial.as_secs_f64() * 1000.0).min(max_ms);
        let multiplier = f64::from(multiplier.max(1));
        let exp_max = if max_ms > initial_ms && multiplier > 1.0 {
            (max_ms / initial_ms.max(1.0)).ln() / multiplier.ln()
        } else {
            0.0
        };
        ExponentialBackoff {
            initial: initial_ms,
            multiplier,
            max: max_ms,
            jitter,
            exp_max,
        }
    }

    /// The backoff after `attempts` failures so far (0: the first retry waits about `initial`).
    pub(crate) fn backoff(&self, attempts: u32, jitter: &mut Jitter) -> Duration {
        if self.exp_max == 0.0 {
            return Duration::from_secs_f64(self.initial / 1000.0);
        }
        let exp = f64::from(attempts).min(self.exp_max);
        let term = self.initial * self.multiplier.powf(exp);
        let factor = if self.jitter < f64::MIN_POSITIVE {
            1.0
        } else {
            1.0 - self.jitter + 2.0 * self.jitter * jitter.unit()
        };
        let ms = (factor * term).min(self.max).max(0.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// A tiny deterministic random source (xorshift64*): no clock, no global state, so a seed gives
/// the same backoffs every run (the simulation tests depend on it).
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    /// A source seeded with `seed` (any value; 0 is replaced).
    pub(crate) fn new(seed: u64) -> Self {
        Jitter(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A value in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_by_the_multiplier_up_to_the_max() {
        let b = ExponentialBackoff::new(ms(100), 2, ms(1000), 0.0);
        let mut j = Jitter::new(1);
        let got: Vec<u128> = (0..6).map(|a| b.backoff(a, &mut j).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn an_initial_above_the_max_is_a_static_max() {
        // retry.backoff.ms=100000 with retry.backoff.max.ms=1000: Java waits 1 s, not 100 s.
        let b = ExponentialBackoff::new(ms(100_000), 2, ms(1000), 0.2);
        let mut j = Jitter::new(7);
        for a in 0..5 {
            assert_eq!(b.backoff(a, &mut j), ms(1000));
        }
    }

    #[test]
    fn jitter_stays_within_its_band_and_is_reproducible() {
        let b = ExponentialBackoff::new(ms(100), 2, ms(10_000), 0.2);
        let (mut j1, mut j2) = (Jitter::new(42), Jitter::new(42));
        for a in 0..4 {
            let d = b.backoff(a, &mut j1);
            assert_eq!(d, b.backoff(a, &mut j2), "same seed, same value");
            let base = 100.0 * 2f64.powi(a as i32);
            let got = d.as_secs_f64() * 1000.0;
            assert!(
                got >= base * 0.8 - 1e-9 && got <= base * 1.2 + 1e-9,
                "{got} vs {base}"
            );
        }
    }
}
