//! [`DeliveryFuture`]: one record's result, pointing into its batch's shared result.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::accumulator::batch::Outcome;
use crate::accumulator::{BatchResult, RecordInfo};
use crate::error::ProduceError;
use crate::record::RecordMetadata;

/// Resolves to the record's [`RecordMetadata`] once its batch is acknowledged, or to the
/// [`ProduceError`] that failed it (Java's `Future<RecordMetadata>`). Every future resolves,
/// at the latest when `delivery.timeout.ms` has passed.
///
/// Await it, or call [`DeliveryFuture::wait`] from a thread that isn't running async code.
/// Creating one allocates nothing: it holds a reference to its batch's result.
#[derive(Debug, Clone)]
#[must_use = "a DeliveryFuture does nothing unless awaited; drop it explicitly to ignore the result"]
pub struct DeliveryFuture {
    result: Arc<BatchResult>,
    index: usize,
    info: RecordInfo,
}

impl DeliveryFuture {
    pub(crate) fn new(result: Arc<BatchResult>, index: usize, info: RecordInfo) -> Self {
        DeliveryFuture {
            result,
            index,
            info,
        }
    }

    fn resolve(
        &self,
        r: Result<crate::accumulator::BatchAck, ProduceError>,
    ) -> Result<RecordMetadata, ProduceError> {
        r.map(|ack| self.info.metadata(&self.result.tp, self.index, Some(&ack)))
    }

    /// Follows a split batch to where this record went; `false` if it wasn't moved.
    fn follow(&mut self, outcome: &Outcome) -> Option<Result<RecordMetadata, ProduceError>> {
        match outcome {
            Outcome::Done(r) => Some(self.resolve(r.clone())),
            Outcome::Moved(targets) => match targets.get(self.index) {
                Some((result, index)) => {
                    self.result = result.clone();
                    self.index = *index;
                    None
                }
                None => Some(Err(ProduceError::Protocol(format!(
                    "record {} lost track of its batch after a split",
                    self.index
                )))),
            },
        }
    }

    /// Blocks the current thread until the result arrives. Don't call it on an async runtime's
    /// thread (await the future instead).
    pub fn wait(mut self) -> Result<RecordMetadata, ProduceError> {
        loop {
            let outcome = self.result.wait();
            if let Some(r) = self.follow(&outcome) {
                return r;
            }
        }
    }

    /// The result if it has arrived.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, ProduceError>> {
        let mut this = self.clone();
        loop {
            let outcome = this.result.try_outcome()?;
            if let Some(r) = this.follow(&outcome) {
                return Some(r);
            }
        }
    }

    /// The partition the record went to.
    pub fn partition(&self) -> i32 {
        self.result.tp.partition
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let Some(outcome) = this.result.poll_result(cx.waker()) else {
                return Poll::Pending;
            };
            if let Some(r) = this.follow(&outcome) {
                return Poll::Ready(r);
            }
        }
    }
}
