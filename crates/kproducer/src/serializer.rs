//! Key and value serializers (Java's `Serializer<T>`), with built-ins byte-identical to Java's.

use std::borrow::Cow;
use std::sync::Arc;

use crate::record::Header;

/// A serializer failed; `send` reports it as [`SendError::Serialization`](crate::SendError::Serialization).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerializationError(pub String);

/// Turns a `T` into bytes. Borrow when you can: byte-like types return `Cow::Borrowed`, so
/// sending them copies the bytes once, straight into the batch. `Ok(None)` is a null on the wire
/// (Java serializers may return `null`, e.g. `VoidSerializer`).
pub trait Serializer<T>: Send + Sync {
    /// Serializes `data` for a record to `topic` carrying `headers`.
    fn serialize<'a>(
        &self,
        topic: &str,
        headers: &[Header],
        data: &'a T,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError>;
}

/// Java's `StringSerializer` (UTF-8, its default encoding): the string's bytes, borrowed.
///
/// ```
/// use kproducer::serializer::{Serializer, StringSerializer};
/// let bytes = StringSerializer.serialize("t", &[], &"héllo").unwrap().unwrap();
/// assert_eq!(&bytes[..], "héllo".as_bytes());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StringSerializer;

impl Serializer<String> for StringSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a String,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Borrowed(data.as_bytes())))
    }
}

impl<'s> Serializer<&'s str> for StringSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a &'s str,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Borrowed(data.as_bytes())))
    }
}

/// Defines a serializer for a fixed-size number, written big-endian as Java's `ByteBuffer` does.
macro_rules! number_serializer {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $to_bytes:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl Serializer<$ty> for $name {
            fn serialize<'a>(
                &self,
                _topic: &str,
                _headers: &[Header],
                data: &'a $ty,
            ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
                let to_bytes: fn($ty) -> Vec<u8> = $to_bytes;
                Ok(Some(Cow::Owned(to_bytes(*data))))
            }
        }
    };
}

number_serializer!(
    /// Java's `ShortSerializer`: an `i16` as 2 bytes, big-endian.
    ///
    /// ```
    /// use kproducer::serializer::{Serializer, ShortSerializer};
    /// let bytes = ShortSerializer.serialize("t", &[], &0x1234i16).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [0x12, 0x34]);
    /// ```
    ShortSerializer,
    i16,
    |v| v.to_be_bytes().to_vec()
);

number_serializer!(
    /// Java's `IntegerSerializer`: an `i32` as 4 bytes, big-endian.
    ///
    /// ```
    /// use kproducer::serializer::{IntegerSerializer, Serializer};
    /// let bytes = IntegerSerializer.serialize("t", &[], &-1i32).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [0xff; 4]);
    /// ```
    IntegerSerializer,
    i32,
    |v| v.to_be_bytes().to_vec()
);

number_serializer!(
    /// Java's `LongSerializer`: an `i64` as 8 bytes, big-endian.
    ///
    /// ```
    /// use kproducer::serializer::{LongSerializer, Serializer};
    /// let bytes = LongSerializer.serialize("t", &[], &1i64).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [0, 0, 0, 0, 0, 0, 0, 1]);
    /// ```
    LongSerializer,
    i64,
    |v| v.to_be_bytes().to_vec()
);

number_serializer!(
    /// Java's `FloatSerializer`: an `f32`'s raw IEEE 754 bits, big-endian
    /// (`Float.floatToRawIntBits`, so NaN payloads are kept).
    ///
    /// ```
    /// use kproducer::serializer::{FloatSerializer, Serializer};
    /// let bytes = FloatSerializer.serialize("t", &[], &1.5f32).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [0x3f, 0xc0, 0, 0]);
    /// ```
    FloatSerializer,
    f32,
    |v| v.to_bits().to_be_bytes().to_vec()
);

/// Java's `Double.NaN` bits: `Double.doubleToLongBits` turns every NaN into this.
const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

number_serializer!(
    /// Java's `DoubleSerializer`: an `f64`'s IEEE 754 bits, big-endian. Unlike
    /// [`FloatSerializer`], Java uses `Double.doubleToLongBits` here, which writes every NaN as
    /// `0x7ff8000000000000`; so does this.
    ///
    /// ```
    /// use kproducer::serializer::{DoubleSerializer, Serializer};
    /// let bytes = DoubleSerializer.serialize("t", &[], &1.5f64).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    /// ```
    DoubleSerializer,
    f64,
    |v| {
        let bits = if v.is_nan() {
            CANONICAL_NAN_BITS
        } else {
            v.to_bits()
        };
        bits.to_be_bytes().to_vec()
    }
);

number_serializer!(
    /// Java's `BooleanSerializer`: one byte, 1 for true and 0 for false.
    ///
    /// ```
    /// use kproducer::serializer::{BooleanSerializer, Serializer};
    /// let bytes = BooleanSerializer.serialize("t", &[], &true).unwrap().unwrap();
    /// assert_eq!(&bytes[..], [1]);
    /// ```
    BooleanSerializer,
    bool,
    |v| vec![u8::from(v)]
);

/// Java's `UUIDSerializer`: the UUID's lowercase hyphenated text (`UUID.toString()`) in UTF-8.
///
/// ```
/// use kproducer::serializer::{Serializer, UuidSerializer};
/// let id = uuid::Uuid::parse_str("123E4567-E89B-12D3-A456-426614174000").unwrap();
/// let bytes = UuidSerializer.serialize("t", &[], &id).unwrap().unwrap();
/// assert_eq!(&bytes[..], b"123e4567-e89b-12d3-a456-426614174000");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UuidSerializer;

impl Serializer<uuid::Uuid> for UuidSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a uuid::Uuid,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let len = data.hyphenated().encode_lower(&mut text).len();
        Ok(Some(Cow::Owned(text[..len].to_vec())))
    }
}

/// Java's `ByteArraySerializer`: the bytes as they are, borrowed.
///
/// ```
/// use std::borrow::Cow;
/// use kproducer::serializer::{ByteArraySerializer, Serializer};
/// let data = vec![1u8, 2, 255];
/// let bytes = ByteArraySerializer.serialize("t", &[], &data).unwrap().unwrap();
/// assert!(matches!(bytes, Cow::Borrowed(b) if b == [1, 2, 255]));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteArraySerializer;

impl Serializer<Vec<u8>> for ByteArraySerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a Vec<u8>,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Borrowed(data)))
    }
}

impl<'s> Serializer<&'s [u8]> for ByteArraySerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a &'s [u8],
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Borrowed(data)))
    }
}

/// Java's `BytesSerializer`: a [`bytes::Bytes`] as it is, borrowed.
///
/// ```
/// use kproducer::serializer::{BytesSerializer, Serializer};
/// let data = bytes::Bytes::from_static(b"abc");
/// let bytes = BytesSerializer.serialize("t", &[], &data).unwrap().unwrap();
/// assert_eq!(&bytes[..], b"abc");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BytesSerializer;

impl Serializer<bytes::Bytes> for BytesSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a bytes::Bytes,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(Some(Cow::Borrowed(data)))
    }
}

/// Java's `VoidSerializer`: always null, for records without a key (or value).
///
/// ```
/// use kproducer::serializer::{Serializer, VoidSerializer};
/// assert_eq!(VoidSerializer.serialize("t", &[], &()).unwrap(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoidSerializer;

impl Serializer<()> for VoidSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        _data: &'a (),
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        Ok(None)
    }
}

/// Any [`serde::Serialize`] type as JSON (UTF-8, compact), with `serde_json`. Feature `serde`.
///
/// A value serde cannot write as JSON (e.g. a map with non-string keys) fails the send with
/// [`SendError::Serialization`](crate::SendError::Serialization), Java's `SerializationException`.
///
/// ```
/// use kproducer::serializer::{JsonSerializer, Serializer};
/// #[derive(serde::Serialize)]
/// struct Order { id: u64, item: &'static str }
/// let bytes = JsonSerializer.serialize("t", &[], &Order { id: 7, item: "tea" }).unwrap().unwrap();
/// assert_eq!(&bytes[..], br#"{"id":7,"item":"tea"}"#);
/// ```
///
/// Give it to the builder for the type it serializes:
///
/// ```no_run
/// use kproducer::producer::ProducerBuilder;
/// use kproducer::serializer::JsonSerializer;
/// use kproducer::ProducerConfig;
/// #[derive(serde::Serialize)]
/// struct Order { id: u64 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kproducer::KafkaError> {
/// let config = ProducerConfig::from_map([("bootstrap.servers", "127.0.0.1:9092")])?;
/// let producer = ProducerBuilder::<String, Order>::new(config)
///     .value_serializer(JsonSerializer)
///     .build()?;
/// # Ok(()) }
/// ```
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonSerializer;

#[cfg(feature = "serde")]
impl<T: serde::Serialize> Serializer<T> for JsonSerializer {
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &[Header],
        data: &'a T,
    ) -> Result<Option<Cow<'a, [u8]>>, SerializationError> {
        serde_json::to_vec(data)
            .map(|v| Some(Cow::Owned(v)))
            .map_err(|e| SerializationError(format!("JSON: {e}")))
    }
}

/// A JSON document has a natural serializer: `Producer<String, serde_json::Value>` needs none given.
#[cfg(feature = "serde")]
impl DefaultSerializer for serde_json::Value {
    fn default_serializer() -> Arc<dyn Serializer<Self>> {
        Arc::new(JsonSerializer)
    }
}

/// Types with a built-in serializer, so a `Producer<K, V>` can be built without naming one.
///
/// ```
/// use kproducer::serializer::DefaultSerializer;
/// let s = <i32 as DefaultSerializer>::default_serializer();
/// assert_eq!(s.serialize("t", &[], &7).unwrap().as_deref(), Some(&[0, 0, 0, 7][..]));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no built-in serializer",
    label = "no serializer given for `{Self}`",
    note = "give one to the builder: `ProducerBuilder::key_serializer` / `value_serializer`"
)]
pub trait DefaultSerializer: Sized + Send + Sync + 'static {
    /// The built-in serializer for `Self`.
    fn default_serializer() -> Arc<dyn Serializer<Self>>;
}

/// Implements [`DefaultSerializer`] for types whose built-in serializer is a unit struct.
macro_rules! default_serializer {
    ($($ty:ty => $serializer:ident),* $(,)?) => {
        $(
            impl DefaultSerializer for $ty {
                fn default_serializer() -> Arc<dyn Serializer<Self>> {
                    Arc::new($serializer)
                }
            }
        )*
    };
}

default_serializer!(
    String => StringSerializer,
    &'static str => StringSerializer,
    Vec<u8> => ByteArraySerializer,
    &'static [u8] => ByteArraySerializer,
    bytes::Bytes => BytesSerializer,
    i16 => ShortSerializer,
    i32 => IntegerSerializer,
    i64 => LongSerializer,
    f32 => FloatSerializer,
    f64 => DoubleSerializer,
    bool => BooleanSerializer,
    uuid::Uuid => UuidSerializer,
    () => VoidSerializer,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ser<T, S: Serializer<T>>(s: &S, data: &T) -> Vec<u8> {
        s.serialize("t", &[], data).unwrap().unwrap().into_owned()
    }

    // Expected bytes below were printed by kafka-clients 4.1.0's serializers
    // (partitioner/java/KeyAndSerializerVectors.java).

    #[test]
    fn string_matches_java_and_borrows() {
        let text = String::from("héllo ключ 🔑");
        let java = unhex("68c3a96c6c6f20d0bad0bbd18ed18720f09f9491");
        assert_eq!(ser(&StringSerializer, &text), java);
        let out = StringSerializer
            .serialize("t", &[], &text)
            .unwrap()
            .unwrap();
        assert!(matches!(out, Cow::Borrowed(b) if std::ptr::eq(b.as_ptr(), text.as_ptr())));

        let s: &str = "héllo ключ 🔑";
        let out = StringSerializer.serialize("t", &[], &s).unwrap().unwrap();
        assert!(matches!(out, Cow::Borrowed(b) if std::ptr::eq(b.as_ptr(), s.as_ptr())));
        assert_eq!(&out[..], &java[..]);
    }

    #[test]
    fn integers_match_java() {
        let shorts = [
            (0, "0000"),
            (1, "0001"),
            (-1, "ffff"),
            (i16::MIN, "8000"),
            (i16::MAX, "7fff"),
            (0x1234, "1234"),
        ];
        for (v, hex) in shorts {
            assert_eq!(ser(&ShortSerializer, &v), unhex(hex), "short {v}");
        }
        let ints = [
            (0, "00000000"),
            (1, "00000001"),
            (-1, "ffffffff"),
            (i32::MIN, "80000000"),
            (i32::MAX, "7fffffff"),
            (0x1234_5678, "12345678"),
        ];
        for (v, hex) in ints {
            assert_eq!(ser(&IntegerSerializer, &v), unhex(hex), "int {v}");
        }
        let longs = [
            (0, "0000000000000000"),
            (1, "0000000000000001"),
            (-1, "ffffffffffffffff"),
            (i64::MIN, "8000000000000000"),
            (i64::MAX, "7fffffffffffffff"),
            (0x1234_5678_9abc_def0, "123456789abcdef0"),
        ];
        for (v, hex) in longs {
            assert_eq!(ser(&LongSerializer, &v), unhex(hex), "long {v}");
        }
    }

    #[test]
    fn float_keeps_raw_nan_bits_like_java() {
        // (input bits, Java's output)
        let cases = [
            (0x0000_0000u32, "00000000"),
            (0x8000_0000, "80000000"),
            (0x3fc0_0000, "3fc00000"),
            (0xc010_0000, "c0100000"),
            (0x7f7f_ffff, "7f7fffff"),
            (0x0000_0001, "00000001"),
            (0x7f80_0000, "7f800000"),
            (0xff80_0000, "ff800000"),
            (0x7fc0_0000, "7fc00000"),
            (0x7fc0_0001, "7fc00001"),
            (0xffc0_0000, "ffc00000"),
        ];
        for (bits, hex) in cases {
            assert_eq!(
                ser(&FloatSerializer, &f32::from_bits(bits)),
                unhex(hex),
                "{bits:x}"
            );
        }
    }

    #[test]
    fn double_canonicalizes_nan_like_java() {
        // (input bits, Java's output): NaN payloads and sign are dropped by doubleToLongBits.
        let cases = [
            (0x0000_0000_0000_0000u64, "0000000000000000"),
            (0x8000_0000_0000_0000, "8000000000000000"),
            (0x3ff8_0000_0000_0000, "3ff8000000000000"),
            (0xc002_0000_0000_0000, "c002000000000000"),
            (0x7fef_ffff_ffff_ffff, "7fefffffffffffff"),
            (0x0000_0000_0000_0001, "0000000000000001"),
            (0x7ff0_0000_0000_0000, "7ff0000000000000"),
            (0xfff0_0000_0000_0000, "fff0000000000000"),
            (0x7ff8_0000_0000_0000, "7ff8000000000000"),
            (0x7ff8_0000_0000_0001, "7ff8000000000000"),
            (0xfff8_0000_0000_0000, "7ff8000000000000"),
            (0x4009_21fb_5444_2d18, "400921fb54442d18"),
        ];
        for (bits, hex) in cases {
            assert_eq!(
                ser(&DoubleSerializer, &f64::from_bits(bits)),
                unhex(hex),
                "{bits:x}"
            );
        }
    }

    #[test]
    fn uuid_matches_java() {
        let id = uuid::Uuid::parse_str("123E4567-E89B-12D3-A456-426614174000").unwrap();
        let java =
            unhex("31323365343536372d653839622d313264332d613435362d343236363134313734303030");
        assert_eq!(ser(&UuidSerializer, &id), java);
    }

    #[test]
    fn byte_types_are_borrowed_unchanged() {
        let v = vec![1u8, 2, 0xff];
        let out = ByteArraySerializer
            .serialize("t", &[], &v)
            .unwrap()
            .unwrap();
        assert!(matches!(out, Cow::Borrowed(b) if std::ptr::eq(b.as_ptr(), v.as_ptr())));
        assert_eq!(&out[..], unhex("0102ff"));

        let s: &[u8] = &[9, 8, 7];
        let out = ByteArraySerializer
            .serialize("t", &[], &s)
            .unwrap()
            .unwrap();
        assert!(matches!(out, Cow::Borrowed(b) if std::ptr::eq(b.as_ptr(), s.as_ptr())));

        let b = bytes::Bytes::from(vec![4u8, 5]);
        let out = BytesSerializer.serialize("t", &[], &b).unwrap().unwrap();
        assert!(matches!(out, Cow::Borrowed(x) if std::ptr::eq(x.as_ptr(), b.as_ptr())));
    }

    #[test]
    fn void_and_bool() {
        assert_eq!(VoidSerializer.serialize("t", &[], &()).unwrap(), None);
        assert_eq!(ser(&BooleanSerializer, &true), [1]);
        assert_eq!(ser(&BooleanSerializer, &false), [0]);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_writes_compact_json_and_reports_what_serde_refuses() {
        #[derive(serde::Serialize)]
        struct Order {
            id: u64,
            tags: Vec<&'static str>,
            note: Option<String>,
        }
        let order = Order {
            id: 42,
            tags: vec!["a", "é"],
            note: None,
        };
        assert_eq!(
            ser(&JsonSerializer, &order),
            r#"{"id":42,"tags":["a","é"],"note":null}"#.as_bytes()
        );
        let value = serde_json::json!({"k": [1, 2]});
        assert_eq!(
            serde_json::Value::default_serializer()
                .serialize("t", &[], &value)
                .unwrap()
                .as_deref(),
            Some(&br#"{"k":[1,2]}"#[..])
        );
        // JSON object keys must be strings.
        let bad: std::collections::BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
        let err = JsonSerializer.serialize("t", &[], &bad).unwrap_err();
        assert!(err.0.contains("key must be a string"), "{err}");
    }

    #[test]
    fn defaults_pick_the_java_serializer() {
        fn bytes_of<T: DefaultSerializer>(v: T) -> Option<Vec<u8>> {
            T::default_serializer()
                .serialize("t", &[], &v)
                .unwrap()
                .map(Cow::into_owned)
        }
        assert_eq!(bytes_of(String::from("ab")), Some(b"ab".to_vec()));
        assert_eq!(bytes_of("ab"), Some(b"ab".to_vec()));
        assert_eq!(bytes_of(vec![1u8]), Some(vec![1]));
        assert_eq!(bytes_of(&b"xy"[..]), Some(b"xy".to_vec()));
        assert_eq!(
            bytes_of(bytes::Bytes::from_static(b"z")),
            Some(b"z".to_vec())
        );
        assert_eq!(bytes_of(0x0102i16), Some(vec![1, 2]));
        assert_eq!(bytes_of(2i32), Some(vec![0, 0, 0, 2]));
        assert_eq!(bytes_of(3i64), Some(vec![0, 0, 0, 0, 0, 0, 0, 3]));
        assert_eq!(bytes_of(1.5f32), Some(vec![0x3f, 0xc0, 0, 0]));
        assert_eq!(bytes_of(f64::NAN), Some(unhex("7ff8000000000000")));
        assert_eq!(bytes_of(true), Some(vec![1]));
        assert_eq!(bytes_of(uuid::Uuid::nil()).map(|b| b.len()), Some(36));
        assert_eq!(bytes_of(()), None);
    }
}
