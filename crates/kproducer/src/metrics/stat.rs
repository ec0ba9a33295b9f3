//! Java's sampled statistics (`org.apache.kafka.common.metrics.stats`): a [`Sensor`] keeps
//! `metrics.num.samples` windows of `metrics.sample.window.ms` each, and reads as Java's `Avg`,
//! `Max`, `Rate` (of a sum or of a count) and cumulative `total`s over them. Time is an argument
//! (milliseconds since the producer's [`Clock`] origin): nothing here reads a clock.

use std::time::{Duration, Instant};

/// The windows' shape and the time base (Java's `MetricConfig` and `Time`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
    /// `metrics.sample.window.ms` (at least 1).
    window_ms: i64,
    /// `metrics.num.samples` (at least 1).
    samples: usize,
}

impl Clock {
    pub(crate) fn new(origin: Instant, window: Duration, samples: usize) -> Self {
        Clock {
            origin,
            window_ms: (window.as_millis().min(i64::MAX as u128) as i64).max(1),
            samples: samples.max(1),
        }
    }

    /// `now` in milliseconds since the origin (Java's `time.milliseconds()`).
    pub(crate) fn ms(&self, now: Instant) -> i64 {
        now.saturating_duration_since(self.origin)
            .as_millis()
            .min(i64::MAX as u128) as i64
    }
}

/// One window: Java's `SampledStat.Sample`, keeping what every stat needs at once.
#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn new(start_ms: i64) -> Self {
        Sample {
            start_ms,
            count: 0,
            sum: 0.0,
            max: f64::NEG_INFINITY,
        }
    }
}

/// Java's `Sensor` with its usual stats: every value recorded goes into the current window (Java's
/// `SampledStat.record`: a window older than `metrics.sample.window.ms` is replaced by the next
/// one) and into the cumulative sum and count. Windows live in a vector sized once, so recording
/// allocates nothing after the first record.
#[derive(Debug, Default)]
pub(crate) struct Sensor {
    samples: Vec<Sample>,
    current: usize,
    total_sum: f64,
    total_count: u64,
}

/// `clone_from` reuses the vector: publishing a copy allocates nothing.
impl Clone for Sensor {
    fn clone(&self) -> Self {
        Sensor {
            samples: self.samples.clone(),
            current: self.current,
            total_sum: self.total_sum,
            total_count: self.total_count,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.samples.clone_from(&source.samples);
        self.current = source.current;
        self.total_sum = source.total_sum;
        self.total_count = source.total_count;
    }
}

/// Java's `RateUnit`: per second, or a ratio of nanoseconds to elapsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    PerSecond,
    /// Values are nanoseconds; the rate is the fraction of wall time (Java's
    /// `Rate(TimeUnit.NANOSECONDS)`).
    NanosRatio,
}

impl Sensor {
    /// Records `value` at `now_ms`.
    pub(crate) fn record(&mut self, clock: &Clock, value: f64, now_ms: i64) {
        if self.samples.is_empty() {
            self.samples.reserve_exact(clock.samples);
            self.samples.push(Sample::new(now_ms));
            self.current = 0;
        }
        if now_ms - self.samples[self.current].start_ms >= clock.window_ms {
            // Java's advance: the next window, reset, or a new one while fewer than `samples`.
            self.current = (self.current + 1) % clock.samples;
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current] = Sample::new(now_ms);
            }
        }
        let s = &mut self.samples[self.current];
        s.count += 1;
        s.sum += value;
        if value > s.max {
            s.max = value;
        }
        self.total_sum += value;
        self.total_count += 1;
    }

    /// The windows still live at `now_ms` (Java's `purgeObsoleteSamples`: a window that started
    /// `samples × window` ago or earlier reads as an empty one started now).
    fn live(&self, clock: &Clock, now_ms: i64) -> impl Iterator<Item = Sample> + '_ {
        let expire = clock.window_ms.saturating_mul(clock.samples as i64);
        self.samples.iter().map(move |s| {
            if now_ms - s.start_ms >= expire {
                Sample::new(now_ms)
            } else {
                *s
            }
        })
    }

    /// Java's `Avg`: NaN when no value is in the windows.
    pub(crate) fn avg(&self, clock: &Clock, now_ms: i64) -> f64 {
        let (sum, count) = self
            .live(clock, now_ms)
            .fold((0.0, 0u64), |(s, c), x| (s + x.sum, c + x.count));
        if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        }
    }

    /// Java's `Max`: NaN when no value is in the windows.
    pub(crate) fn max(&self, clock: &Clock, now_ms: i64) -> f64 {
        self.live(clock, now_ms)
            .filter(|s| s.count > 0)
            .map(|s| s.max)
            .fold(f64::NAN, f64::max)
    }

    /// Java's `Rate` over a `WindowedSum` (the values per second, or per elapsed nanosecond).
    pub(crate) fn rate(&self, clock: &Clock, now_ms: i64, unit: Unit) -> f64 {
        // A fold from +0.0: `Sum` starts at -0.0, which would print as Java never does.
        let sum = self.live(clock, now_ms).fold(0.0, |a, s| a + s.sum);
        Self::per(sum, self.window_size(clock, now_ms), unit)
    }

    /// Java's `Rate` over a `WindowedCount` (events per second).
    pub(crate) fn count_rate(&self, clock: &Clock, now_ms: i64) -> f64 {
        let count: u64 = self.live(clock, now_ms).map(|s| s.count).sum();
        Self::per(
            count as f64,
            self.window_size(clock, now_ms),
            Unit::PerSecond,
        )
    }

    fn per(value: f64, window_ms: i64, unit: Unit) -> f64 {
        match unit {
            Unit::PerSecond => value / (window_ms as f64 / 1000.0),
            Unit::NanosRatio => value / (window_ms as f64 * 1_000_000.0),
        }
    }

    /// Java's `Rate.windowSize`: from the oldest live window to now, at least `samples - 1` full
    /// windows, at least 1 ms.
    fn window_size(&self, clock: &Clock, now_ms: i64) -> i64 {
        let oldest = self
            .live(clock, now_ms)
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms - oldest;
        let full = elapsed / clock.window_ms;
        let min_full = clock.samples as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * clock.window_ms;
        }
        elapsed.max(1)
    }

    /// Java's `CumulativeSum`.
    pub(crate) fn total(&self) -> f64 {
        self.total_sum
    }

    /// Java's `CumulativeCount`.
    pub(crate) fn total_count(&self) -> f64 {
        self.total_count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> (Clock, Instant) {
        let t0 = Instant::now();
        (Clock::new(t0, Duration::from_millis(30_000), 2), t0)
    }

    #[test]
    fn empty_sensor_reads_as_java() {
        let (c, _) = clock();
        let s = Sensor::default();
        assert!(s.avg(&c, 0).is_nan());
        assert!(s.max(&c, 0).is_nan());
        let rate = s.rate(&c, 0, Unit::PerSecond);
        assert_eq!(rate, 0.0);
        assert!(
            rate.is_sign_positive(),
            "0.000 as Java prints it, not -0.000"
        );
        assert_eq!(s.total(), 0.0);
    }

    #[test]
    fn avg_max_rate_and_totals() {
        let (c, _) = clock();
        let mut s = Sensor::default();
        s.record(&c, 10.0, 1_000);
        s.record(&c, 30.0, 2_000);
        assert_eq!(s.avg(&c, 2_000), 20.0);
        assert_eq!(s.max(&c, 2_000), 30.0);
        assert_eq!(s.total(), 40.0);
        assert_eq!(s.total_count(), 2.0);
        // One window so far: Java counts samples - 1 = 1 full window of 30 s plus the elapsed 1 s.
        let r = s.rate(&c, 2_000, Unit::PerSecond);
        assert!((r - 40.0 / 31.0).abs() < 1e-9, "{r}");
        assert!((s.count_rate(&c, 2_000) - 2.0 / 31.0).abs() < 1e-9);
    }

    #[test]
    fn old_windows_expire_but_totals_stay() {
        let (c, _) = clock();
        let mut s = Sensor::default();
        s.record(&c, 5.0, 0);
        s.record(&c, 7.0, 30_000); // a second window
        assert_eq!(s.avg(&c, 30_000), 6.0);
        // At 60 s the first window (started at 0) is 2 × 30 s old: purged.
        assert_eq!(s.avg(&c, 60_000), 7.0);
        s.record(&c, 9.0, 61_000); // replaces the first window
        assert_eq!(s.max(&c, 61_000), 9.0);
        assert_eq!(s.total(), 21.0);
        assert!(s.avg(&c, 200_000).is_nan());
    }

    #[test]
    fn nanosecond_ratio() {
        let (c, _) = clock();
        let mut s = Sensor::default();
        // 15 s waited within the first window: over 30 s of (minimum) window, half.
        s.record(&c, 15e9, 0);
        assert!((s.rate(&c, 0, Unit::NanosRatio) - 0.5).abs() < 1e-9);
    }
}
