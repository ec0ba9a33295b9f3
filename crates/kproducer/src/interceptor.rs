//! Producer interceptors (Java's `ProducerInterceptor`, what `interceptor.classes` selects).

use std::sync::Arc;

use crate::error::ProduceError;
use crate::record::{ProducerRecord, RecordMetadata};

/// An interceptor's own failure. It is logged and never fails the send (Java semantics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InterceptorError(pub String);

/// Sees every record before it is serialized and every result after it completes.
pub trait ProducerInterceptor<K, V>: Send + Sync {
    /// May change the record. On `Err` the error is logged and the next interceptor sees the
    /// record as it is now.
    fn on_send(&self, record: &mut ProducerRecord<K, V>) -> Result<(), InterceptorError>;

    /// Called once per record with its metadata or error. Runs on the producer's background
    /// task: keep it quick. `metadata` carries topic and partition (offset -1) on failure.
    fn on_acknowledgement(
        &self,
        metadata: &RecordMetadata,
        error: Option<&ProduceError>,
    ) -> Result<(), InterceptorError>;
}

/// The configured interceptors, called in order (Java's `ProducerInterceptors`).
///
/// An interceptor's error is logged (`tracing::warn`) and never stops the others or the send.
///
/// ```
/// use std::sync::Arc;
/// use kproducer::interceptor::{InterceptorChain, InterceptorError, ProducerInterceptor};
/// use kproducer::{ProduceError, ProducerRecord, RecordMetadata};
///
/// struct Tag;
/// impl ProducerInterceptor<String, String> for Tag {
///     fn on_send(&self, record: &mut ProducerRecord<String, String>) -> Result<(), InterceptorError> {
///         record.headers.push(kproducer::Header::new("via", &b"tag"[..]));
///         Ok(())
///     }
///     fn on_acknowledgement(&self, _: &RecordMetadata, _: Option<&ProduceError>) -> Result<(), InterceptorError> {
///         Ok(())
///     }
/// }
///
/// let chain = InterceptorChain::new(vec![Arc::new(Tag) as Arc<dyn ProducerInterceptor<_, _>>]);
/// let mut record = ProducerRecord::new("orders", "v".to_string());
/// chain.on_send(&mut record);
/// assert_eq!(record.headers[0].key, "via");
/// ```
pub struct InterceptorChain<K, V> {
    interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
}

impl<K, V> InterceptorChain<K, V> {
    /// A chain calling `interceptors` in this order.
    pub fn new(interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>) -> Self {
        InterceptorChain { interceptors }
    }

    /// Appends an interceptor at the end of the chain.
    pub fn push(&mut self, interceptor: Arc<dyn ProducerInterceptor<K, V>>) {
        self.interceptors.push(interceptor);
    }

    /// Whether there are no interceptors (the producer can skip building metadata for them).
    pub fn is_empty(&self) -> bool {
        self.interceptors.is_empty()
    }

    /// Number of interceptors.
    pub fn len(&self) -> usize {
        self.interceptors.len()
    }

    /// Lets each interceptor change the record, in order; each sees the previous ones' changes.
    /// Called before serialization (Java's `onSend`).
    pub fn on_send(&self, record: &mut ProducerRecord<K, V>) {
        for interceptor in &self.interceptors {
            if let Err(error) = interceptor.on_send(record) {
                tracing::warn!(
                    topic = %record.topic,
                    partition = ?record.partition,
                    %error,
                    "error executing interceptor on_send callback"
                );
            }
        }
    }

    /// Tells every interceptor how a record ended: `metadata` and `error` as the caller's future
    /// or callback gets them (Java's `onAcknowledgement`).
    pub fn on_acknowledgement(&self, metadata: &RecordMetadata, error: Option<&ProduceError>) {
        for interceptor in &self.interceptors {
            if let Err(e) = interceptor.on_acknowledgement(metadata, error) {
                tracing::warn!(
                    topic = %metadata.topic,
                    partition = metadata.partition,
                    error = %e,
                    "error executing interceptor on_acknowledgement callback"
                );
            }
        }
    }

    /// Tells every interceptor that a record failed before it got a place in a batch (Java's
    /// `onSendError`). They get metadata with the topic, `partition` or -1 when it was not
    /// chosen yet, and -1 for offset, timestamp and sizes.
    pub fn on_send_error(&self, topic: &str, partition: Option<i32>, error: &ProduceError) {
        if self.interceptors.is_empty() {
            return;
        }
        let metadata = RecordMetadata {
            topic: topic.into(),
            partition: partition.unwrap_or(UNKNOWN_PARTITION),
            offset: -1,
            timestamp: -1,
            serialized_key_size: -1,
            serialized_value_size: -1,
        };
        self.on_acknowledgement(&metadata, Some(error));
    }
}

/// Java's `RecordMetadata.UNKNOWN_PARTITION`.
const UNKNOWN_PARTITION: i32 = -1;

impl<K, V> Default for InterceptorChain<K, V> {
    fn default() -> Self {
        InterceptorChain {
            interceptors: Vec::new(),
        }
    }
}

impl<K, V> Clone for InterceptorChain<K, V> {
    fn clone(&self) -> Self {
        InterceptorChain {
            interceptors: self.interceptors.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for InterceptorChain<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterceptorChain")
            .field("len", &self.interceptors.len())
            .finish()
    }
}

/// Receives each record's outcome, without knowing the record's key and value types, so the
/// background sender (not generic) can notify an [`InterceptorChain<K, V>`].
pub trait AckObserver: Send + Sync {
    /// A record completed with `metadata`, or failed with `error` (then `metadata.offset` is -1).
    fn on_ack(&self, metadata: &RecordMetadata, error: Option<&ProduceError>);
}

impl<K, V> AckObserver for InterceptorChain<K, V> {
    fn on_ack(&self, metadata: &RecordMetadata, error: Option<&ProduceError>) {
        self.on_acknowledgement(metadata, error);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    type Log = Arc<Mutex<Vec<String>>>;

    /// Appends its name to the value, logs every call, and fails when told to.
    struct Probe {
        name: &'static str,
        fail: bool,
        log: Log,
    }

    impl ProducerInterceptor<String, String> for Probe {
        fn on_send(
            &self,
            record: &mut ProducerRecord<String, String>,
        ) -> Result<(), InterceptorError> {
            let value = record.value.get_or_insert_with(String::new);
            self.log
                .lock()
                .unwrap()
                .push(format!("{} send {}", self.name, value));
            value.push_str(self.name);
            if self.fail {
                return Err(InterceptorError(format!("{} failed", self.name)));
            }
            Ok(())
        }

        fn on_acknowledgement(
            &self,
            metadata: &RecordMetadata,
            error: Option<&ProduceError>,
        ) -> Result<(), InterceptorError> {
            self.log.lock().unwrap().push(format!(
                "{} ack {}-{}@{} {}",
                self.name,
                metadata.topic,
                metadata.partition,
                metadata.offset,
                error.map_or("ok".to_string(), |e| e.to_string())
            ));
            if self.fail {
                return Err(InterceptorError(format!("{} failed", self.name)));
            }
            Ok(())
        }
    }

    fn chain(specs: &[(&'static str, bool)]) -> (InterceptorChain<String, String>, Log) {
        let log: Log = Arc::default();
        let interceptors = specs
            .iter()
            .map(|&(name, fail)| {
                Arc::new(Probe {
                    name,
                    fail,
                    log: log.clone(),
                }) as Arc<dyn ProducerInterceptor<String, String>>
            })
            .collect();
        (InterceptorChain::new(interceptors), log)
    }

    fn metadata(partition: i32, offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: "t".into(),
            partition,
            offset,
            timestamp: 1,
            serialized_key_size: -1,
            serialized_value_size: 3,
        }
    }

    #[test]
    fn on_send_runs_in_order_and_later_interceptors_see_changes() {
        let (chain, log) = chain(&[("a", false), ("b", false), ("c", false)]);
        let mut record = ProducerRecord::new("t", "v-".to_string());
        chain.on_send(&mut record);
        assert_eq!(record.value.as_deref(), Some("v-abc"));
        assert_eq!(
            *log.lock().unwrap(),
            ["a send v-", "b send v-a", "c send v-ab"]
        );
    }

    #[test]
    fn failing_interceptor_does_not_stop_the_chain() {
        let (chain, log) = chain(&[("a", false), ("b", true), ("c", false)]);
        let mut record = ProducerRecord::new("t", String::new());
        chain.on_send(&mut record);
        // b's change before its error stays, and c still runs.
        assert_eq!(record.value.as_deref(), Some("abc"));
        assert_eq!(log.lock().unwrap().len(), 3);

        log.lock().unwrap().clear();
        chain.on_acknowledgement(&metadata(0, 5), None);
        assert_eq!(
            *log.lock().unwrap(),
            ["a ack t-0@5 ok", "b ack t-0@5 ok", "c ack t-0@5 ok"]
        );
    }

    #[test]
    fn every_result_reaches_every_interceptor_through_ack_observer() {
        let (chain, log) = chain(&[("a", true), ("b", false)]);
        let observer: Arc<dyn AckObserver> = Arc::new(chain);
        let failure = ProduceError::Network("connection reset".into());
        observer.on_ack(&metadata(1, 7), None);
        observer.on_ack(&metadata(2, -1), Some(&failure));
        assert_eq!(
            *log.lock().unwrap(),
            [
                "a ack t-1@7 ok",
                "b ack t-1@7 ok",
                "a ack t-2@-1 NetworkException: connection reset",
                "b ack t-2@-1 NetworkException: connection reset",
            ]
        );
    }

    #[test]
    fn on_send_error_reports_unknown_partition_as_minus_one() {
        struct Capture(Mutex<Vec<RecordMetadata>>);
        impl ProducerInterceptor<String, String> for Capture {
            fn on_send(
                &self,
                _: &mut ProducerRecord<String, String>,
            ) -> Result<(), InterceptorError> {
                Ok(())
            }
            fn on_acknowledgement(
                &self,
                metadata: &RecordMetadata,
                error: Option<&ProduceError>,
            ) -> Result<(), InterceptorError> {
                assert_eq!(error, Some(&ProduceError::Closed));
                self.0.lock().unwrap().push(metadata.clone());
                Ok(())
            }
        }
        let capture = Arc::new(Capture(Mutex::default()));
        let chain =
            InterceptorChain::new(vec![capture.clone() as Arc<dyn ProducerInterceptor<_, _>>]);
        chain.on_send_error("orders", None, &ProduceError::Closed);
        chain.on_send_error("orders", Some(4), &ProduceError::Closed);
        let seen = capture.0.lock().unwrap();
        let expected = |partition| RecordMetadata {
            topic: "orders".into(),
            partition,
            offset: -1,
            timestamp: -1,
            serialized_key_size: -1,
            serialized_value_size: -1,
        };
        assert_eq!(*seen, [expected(-1), expected(4)]);
    }

    #[test]
    fn empty_chain() {
        let chain = InterceptorChain::<String, String>::default();
        assert!(chain.is_empty());
        assert_eq!(chain.len(), 0);
        let mut record = ProducerRecord::new("t", "v".to_string());
        chain.on_send(&mut record);
        chain.on_send_error("t", None, &ProduceError::Closed);
        assert_eq!(record.value.as_deref(), Some("v"));
    }
}
