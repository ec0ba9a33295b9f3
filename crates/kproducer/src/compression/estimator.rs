//! Java's `CompressionRatioEstimator` and `MemoryRecordsBuilder`'s size estimate: how big an
//! open batch will be once compressed, so batches fill close to `batch.size` compressed.

use std::collections::HashMap;
use std::sync::Arc;

/// Java's `MemoryRecordsBuilder.COMPRESSION_RATE_ESTIMATION_FACTOR`: the estimate is inflated
/// by 5% so a batch rarely ends up larger than `batch.size`.
pub const COMPRESSION_RATE_ESTIMATION_FACTOR: f32 = 1.05;

/// Moves the estimate down (better compression) by at most this much per batch.
const IMPROVING_STEP: f32 = 0.005;
/// Moves the estimate up (worse compression) by at least this much per batch.
const DETERIORATE_STEP: f32 = 0.05;

/// The estimated size of a batch holding `uncompressed_records` bytes of records after the
/// `header` bytes, compressed at `ratio` (Java's `MemoryRecordsBuilder.estimatedBytesWritten`,
/// with the same `float` arithmetic).
///
/// ```
/// use kproducer::internals::compression::estimated_size;
/// assert_eq!(estimated_size(61, 10_000, 1.0), 61 + 10_500);
/// assert_eq!(estimated_size(61, 10_000, 0.5), 61 + 5_250);
/// ```
pub fn estimated_size(header: usize, uncompressed_records: usize, ratio: f32) -> usize {
    header + (uncompressed_records as f32 * ratio * COMPRESSION_RATE_ESTIMATION_FACTOR) as usize
}

/// Per-topic estimate of compressed size / uncompressed size of record batches (Java's
/// `CompressionRatioEstimator`; Java keys it by topic and codec, a producer has one codec).
///
/// Starts at 1.0; each closed batch moves it toward the observed ratio, quickly when compression
/// got worse (at least +0.05, so batches stop overshooting `batch.size`), slowly when it got
/// better (at most -0.005).
///
/// ```
/// use std::sync::Arc;
/// use kproducer::internals::compression::CompressionRatioEstimator;
/// let mut est = CompressionRatioEstimator::default();
/// let t: Arc<str> = Arc::from("orders");
/// assert_eq!(est.estimation(&t), 1.0);
/// assert!((est.update(&t, 0.2) - 0.995).abs() < 1e-6); // better: one small step down
/// assert!((est.update(&t, 0.9) - 0.99).abs() < 1e-6);
/// assert!((est.update(&t, 1.5) - 1.5).abs() < 1e-6); // worse: straight to the observation
/// assert!((est.update(&t, 1.52) - 1.55).abs() < 1e-6); // worse by less than 0.05: +0.05
/// ```
#[derive(Debug, Default, Clone)]
pub struct CompressionRatioEstimator {
    ratios: HashMap<Arc<str>, f32>,
}

impl CompressionRatioEstimator {
    /// The current estimate for `topic` (1.0 before any batch closed).
    pub fn estimation(&self, topic: &str) -> f32 {
        self.ratios.get(topic).copied().unwrap_or(1.0)
    }

    /// Folds one closed batch's observed ratio into the topic's estimate; returns the new one.
    pub fn update(&mut self, topic: &Arc<str>, observed: f32) -> f32 {
        let current = self.ratios.entry(topic.clone()).or_insert(1.0);
        if observed > *current {
            *current = (*current + DETERIORATE_STEP).max(observed);
        } else if observed < *current {
            *current = (*current - IMPROVING_STEP).max(observed);
        }
        *current
    }
}
