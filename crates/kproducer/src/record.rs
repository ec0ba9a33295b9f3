//! The records a caller sends and the metadata it gets back.

use std::sync::Arc;

use bytes::Bytes;

/// A record header: a string key and an optional byte value (Java's `Header`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header key (UTF-8).
    pub key: String,
    /// Header value; `None` is a null value on the wire.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value: bytes or text, owned or borrowed (see [`IntoHeaderValue`]).
    ///
    /// ```
    /// let h = kproducer::Header::new("trace-id", b"abc");
    /// assert_eq!(h.value.as_deref(), Some(&b"abc"[..]));
    /// ```
    pub fn new(key: impl Into<String>, value: impl IntoHeaderValue) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into_header_value()),
        }
    }

    /// A header with a null value (Java's `headers.add(key, null)`).
    ///
    /// ```
    /// assert_eq!(kproducer::Header::null("tombstone-reason").value, None);
    /// ```
    pub fn null(key: impl Into<String>) -> Self {
        Header {
            key: key.into(),
            value: None,
        }
    }
}

/// What a header value can be given as. Owned bytes and text (`Vec<u8>`, `String`, `Bytes`,
/// `Box<[u8]>`) move in without a copy; borrowed ones (`&[u8]`, `&str`, `&Vec<u8>`, arrays) are
/// copied, so a slice of a local buffer works:
///
/// ```
/// use kproducer::ProducerRecord;
/// let trace = vec![1u8, 2, 3];
/// let r: ProducerRecord<String, String> = ProducerRecord::new("t", "v".to_string())
///     .with_header("trace", trace.as_slice())
///     .with_header("source", "web")
///     .with_header("raw", b"\x00\xff");
/// assert_eq!(r.headers[0].value.as_deref(), Some(&[1u8, 2, 3][..]));
/// assert_eq!(r.headers[1].value.as_deref(), Some(&b"web"[..]));
/// ```
pub trait IntoHeaderValue {
    /// The value's bytes.
    fn into_header_value(self) -> Bytes;
}

/// Implements [`IntoHeaderValue`] for owned types (moved into `Bytes`, no copy).
macro_rules! owned_header_value {
    ($($ty:ty),*) => {
        $(
            impl IntoHeaderValue for $ty {
                fn into_header_value(self) -> Bytes {
                    Bytes::from(self)
                }
            }
        )*
    };
}

owned_header_value!(Bytes, Vec<u8>, String, Box<[u8]>, bytes::BytesMut);

/// Implements [`IntoHeaderValue`] for borrowed types (copied).
macro_rules! borrowed_header_value {
    ($($ty:ty),*) => {
        $(
            impl IntoHeaderValue for $ty {
                fn into_header_value(self) -> Bytes {
                    Bytes::copy_from_slice(self.as_ref())
                }
            }
        )*
    };
}

borrowed_header_value!(&[u8], &str, &Vec<u8>, &String);

impl IntoHeaderValue for &Bytes {
    fn into_header_value(self) -> Bytes {
        // Shares the buffer (a reference count), no copy.
        self.clone()
    }
}

impl<const N: usize> IntoHeaderValue for [u8; N] {
    fn into_header_value(self) -> Bytes {
        Bytes::copy_from_slice(&self)
    }
}

impl<const N: usize> IntoHeaderValue for &[u8; N] {
    fn into_header_value(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoHeaderValue for std::borrow::Cow<'_, [u8]> {
    fn into_header_value(self) -> Bytes {
        match self {
            std::borrow::Cow::Borrowed(b) => Bytes::copy_from_slice(b),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        }
    }
}

impl IntoHeaderValue for std::borrow::Cow<'_, str> {
    fn into_header_value(self) -> Bytes {
        match self {
            std::borrow::Cow::Borrowed(s) => Bytes::copy_from_slice(s.as_bytes()),
            std::borrow::Cow::Owned(s) => Bytes::from(s),
        }
    }
}

/// What a topic name can be given as. `Arc<str>` and `&Arc<str>` share the name (no allocation
/// per record, the cheap choice on hot paths); the other forms copy it once.
///
/// ```
/// use std::sync::Arc;
/// use kproducer::ProducerRecord;
/// let topic: Arc<str> = Arc::from("orders");
/// let r: ProducerRecord<String, String> = ProducerRecord::new(&topic, "v".to_string());
/// assert!(Arc::ptr_eq(&r.topic, &topic));
/// let owned = String::from("orders");
/// let r: ProducerRecord<String, u32> = ProducerRecord::new(&owned, 1);
/// assert_eq!(&*r.topic, "orders");
/// ```
pub trait IntoTopic {
    /// The topic name as a shared string.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self.clone()
    }
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl IntoTopic for Box<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for std::borrow::Cow<'_, str> {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_ref())
    }
}

/// A record to send (Java's `ProducerRecord<K, V>`).
///
/// ```
/// use kproducer::ProducerRecord;
/// let r = ProducerRecord::new("orders", "order-1".to_string())
///     .with_key("customer-7".to_string())
///     .with_partition(2)
///     .with_timestamp(1_700_000_000_000)
///     .with_header("source", "web");
/// assert_eq!(r.partition, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRecord<K, V> {
    /// Topic to send to. Shared, so a record costs no topic allocation when built from an
    /// `Arc<str>` the caller keeps (`ProducerRecord::new(topic.clone(), v)`).
    pub topic: Arc<str>,
    /// Explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key; `None` is a null key.
    pub key: Option<K>,
    /// Value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<V>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Timestamp in ms since the epoch; `None` means "now" (CreateTime).
    pub timestamp: Option<i64>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record with a value and nothing else set.
    pub fn new(topic: impl IntoTopic, value: V) -> Self {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with neither key nor value set (use the `with_*` methods), e.g. a tombstone.
    pub fn empty(topic: impl IntoTopic) -> Self {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value.
    pub fn with_value(mut self, value: V) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets an explicit partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets an explicit timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Appends a header; the value is bytes or text, owned or borrowed (see
    /// [`IntoHeaderValue`]).
    pub fn with_header(mut self, key: impl Into<String>, value: impl IntoHeaderValue) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }
}

/// Where a record landed (Java's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMetadata {
    /// Topic (shared with the batch: no allocation per record).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition; `-1` when unknown (acks=0).
    pub offset: i64,
    /// CreateTime given or assigned at send, or the broker's LogAppendTime when the topic uses it.
    pub timestamp: i64,
    /// Serialized key size in bytes, `-1` for a null key.
    pub serialized_key_size: i32,
    /// Serialized value size in bytes, `-1` for a null value.
    pub serialized_value_size: i32,
}
