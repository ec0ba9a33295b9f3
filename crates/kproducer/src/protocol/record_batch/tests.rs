//! Record batch tests: cross-checks against the independent `kafka-protocol` codec, property
//! round-trips, golden bytes, size accounting and decoder robustness.

use super::*;
use crate::protocol::varint::write_varint;
use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    RecordSet, TimestampType,
};
use proptest::prelude::*;

/// A record as the tests generate it.
#[derive(Debug, Clone)]
struct TestRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

impl TestRecord {
    fn new(timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: Vec<Header>) -> Self {
        TestRecord {
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
        }
    }
}

fn null_header(key: &str) -> Header {
    Header {
        key: key.to_string(),
        value: None,
    }
}

/// Builds a batch from `records` with the first record's timestamp as base (as Java does).
fn build(records: &[TestRecord], header: BatchHeader) -> Bytes {
    let base = records.first().map_or(0, |r| r.timestamp);
    let mut b = RecordBatchBuilder::new(Vec::new(), base);
    for (i, r) in records.iter().enumerate() {
        let delta = b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
        assert_eq!(delta, i as i32);
    }
    b.close(header)
}

fn kp_decode(bytes: &Bytes) -> RecordSet {
    let mut buf = bytes.clone();
    let set = RecordBatchDecoder::decode(&mut buf).expect("kafka-protocol decodes our batch");
    assert!(buf.is_empty(), "kafka-protocol left {} bytes", buf.len());
    set
}

/// Compares every field kafka-protocol exposes with what went in.
fn assert_kp_matches(bytes: &Bytes, records: &[TestRecord], header: BatchHeader) {
    let set = kp_decode(bytes);
    assert_eq!(set.version, 2);
    assert!(matches!(set.compression, Compression::None));
    assert_eq!(set.records.len(), records.len());
    for (i, (got, want)) in set.records.iter().zip(records).enumerate() {
        assert_eq!(got.offset, i as i64, "offset of {i}");
        assert_eq!(got.timestamp, want.timestamp, "timestamp of {i}");
        assert_eq!(got.timestamp_type, TimestampType::Creation);
        assert_eq!(got.key.as_deref(), want.key.as_deref(), "key of {i}");
        assert_eq!(got.value.as_deref(), want.value.as_deref(), "value of {i}");
        assert_eq!(got.producer_id, header.producer_id);
        assert_eq!(got.producer_epoch, header.producer_epoch);
        assert_eq!(
            got.sequence,
            header.base_sequence.wrapping_add(i as i32),
            "sequence of {i}"
        );
        assert_eq!(got.transactional, header.is_transactional);
        assert!(!got.control);
        assert_eq!(got.partition_leader_epoch, -1);
        let headers: Vec<(&str, Option<&[u8]>)> = got
            .headers
            .iter()
            .map(|(k, v)| (&**k, v.as_deref()))
            .collect();
        let want_headers: Vec<(&str, Option<&[u8]>)> = want
            .headers
            .iter()
            .map(|h| (h.key.as_str(), h.value.as_deref()))
            .collect();
        assert_eq!(headers, want_headers, "headers of {i}");
    }
}

/// Compares our decoder's view with what went in, including the header fields kafka-protocol hides.
fn assert_ours_matches(bytes: &Bytes, records: &[TestRecord], header: BatchHeader) {
    let batches = decode_batches(bytes).expect("our decoder accepts our batch");
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.base_offset, 0);
    assert_eq!(b.partition_leader_epoch, -1);
    assert_eq!(b.compression_codec(), 0);
    assert!(!b.is_log_append_time());
    assert!(!b.is_control());
    assert_eq!(b.is_transactional(), header.is_transactional);
    assert_eq!(b.producer_id, header.producer_id);
    assert_eq!(b.producer_epoch, header.producer_epoch);
    assert_eq!(b.base_sequence, header.base_sequence);
    assert_eq!(b.last_offset_delta, (records.len() as i32 - 1).max(0));
    let base = records.first().map_or(0, |r| r.timestamp);
    assert_eq!(b.base_timestamp, base);
    let max = records
        .iter()
        .map(|r| r.timestamp)
        .fold(NO_TIMESTAMP, i64::max);
    assert_eq!(b.max_timestamp, max);
    assert_eq!(b.records.len(), records.len());
    for (i, (got, want)) in b.records.iter().zip(records).enumerate() {
        assert_eq!(got.attributes, 0);
        assert_eq!(got.offset_delta, i as i32);
        assert_eq!(got.timestamp_delta, want.timestamp - base);
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(got.key.as_deref(), want.key.as_deref());
        assert_eq!(got.value.as_deref(), want.value.as_deref());
        assert_eq!(got.headers, want.headers);
    }
}

fn idempotent_header() -> BatchHeader {
    BatchHeader {
        producer_id: 123_456_789_012,
        producer_epoch: 7,
        base_sequence: 42,
        is_transactional: true,
    }
}

fn varied_records() -> Vec<TestRecord> {
    vec![
        TestRecord::new(
            1_700_000_000_000,
            Some(b"key-1"),
            Some(b"value-1"),
            vec![Header::new("a", &b"1"[..]), null_header("b")],
        ),
        TestRecord::new(1_700_000_000_500, None, Some(b"null key"), vec![]),
        TestRecord::new(1_699_999_999_000, Some(b"tombstone"), None, vec![]),
        TestRecord::new(
            1_700_000_000_010,
            Some(b""),
            Some(b""),
            vec![Header::new("", Bytes::new())],
        ),
        TestRecord::new(
            1_700_000_000_020,
            None,
            None,
            vec![Header::new("ünïcødé", &b"\x00\xff"[..])],
        ),
    ]
}

#[test]
fn kafka_protocol_decodes_every_field() {
    let records = varied_records();
    for header in [BatchHeader::PLAIN, idempotent_header()] {
        let bytes = build(&records, header);
        assert_kp_matches(&bytes, &records, header);
        assert_ours_matches(&bytes, &records, header);
        let info = RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].record_count, records.len() as i32);
        assert_eq!(info[0].base_sequence, header.base_sequence);
        assert_eq!(info[0].transactional, header.is_transactional);
    }
}

#[test]
fn header_fields_at_java_offsets() {
    let records = varied_records();
    let bytes = build(&records, idempotent_header());
    let b = &bytes[..];
    assert_eq!(
        b.len(),
        12 + i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize
    );
    assert_eq!(&b[0..8], &[0; 8]); // base offset
    assert_eq!(&b[12..16], &(-1i32).to_be_bytes()); // partition leader epoch
    assert_eq!(b[16], 2); // magic
    assert_eq!(&b[21..23], &0x0010i16.to_be_bytes()); // transactional, CreateTime, no codec
    assert_eq!(&b[23..27], &4i32.to_be_bytes()); // last offset delta
    assert_eq!(&b[27..35], &1_700_000_000_000i64.to_be_bytes()); // first record's timestamp
    assert_eq!(&b[35..43], &1_700_000_000_500i64.to_be_bytes()); // max timestamp
    assert_eq!(&b[43..51], &123_456_789_012i64.to_be_bytes());
    assert_eq!(&b[51..53], &7i16.to_be_bytes());
    assert_eq!(&b[53..57], &42i32.to_be_bytes());
    assert_eq!(&b[57..61], &5i32.to_be_bytes());
    let crc = u32::from_be_bytes(b[17..21].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&b[21..]));
}

fn kp_records(records: &[TestRecord], header: BatchHeader) -> Vec<KpRecord> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| KpRecord {
            transactional: header.is_transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: header.base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect()
}

fn kp_encode(records: &[TestRecord], header: BatchHeader) -> Vec<u8> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, kp_records(records, header).iter(), &options).unwrap();
    out.to_vec()
}

/// kafka-protocol takes the smallest timestamp as base while Java (and we) take the first
/// record's; with non-decreasing timestamps the two agree and the bytes must be identical.
#[test]
fn golden_bytes_match_kafka_protocol_encoder() {
    let records = vec![
        TestRecord::new(
            1_000,
            Some(b"k0"),
            Some(b"v0"),
            vec![Header::new("h", &b"x"[..])],
        ),
        TestRecord::new(1_000, None, Some(b"v1"), vec![null_header("n")]),
        TestRecord::new(1_250, Some(b""), None, vec![]),
    ];
    for header in [BatchHeader::PLAIN, idempotent_header()] {
        let ours = build(&records, header);
        assert_eq!(&ours[..], &kp_encode(&records, header)[..]);
    }
    // A fixed expectation too, so a change in both encoders cannot go unnoticed.
    let ours = build(&records[..1], BatchHeader::PLAIN);
    let expected_record: &[u8] = &[
        0x1c, // length 14
        0x00, // attributes
        0x00, // timestamp delta 0
        0x00, // offset delta 0
        0x04, b'k', b'0', // key
        0x04, b'v', b'0', // value
        0x02, // one header
        0x02, b'h', 0x02, b'x',
    ];
    assert_eq!(&ours[BATCH_HEADER_LEN..], expected_record);
    assert_eq!(ours.len(), BATCH_HEADER_LEN + expected_record.len());
}

#[test]
fn negative_timestamp_delta_keeps_first_timestamp_as_base() {
    let records = vec![
        TestRecord::new(5_000, None, Some(b"a"), vec![]),
        TestRecord::new(4_000, None, Some(b"b"), vec![]),
    ];
    let bytes = build(&records, BatchHeader::PLAIN);
    assert_eq!(&bytes[27..35], &5_000i64.to_be_bytes());
    assert_eq!(&bytes[35..43], &5_000i64.to_be_bytes());
    // The second record's delta is -1000: zig-zag varlong 1999 = [0xcf, 0x0f].
    let decoded = decode_batches(&bytes).unwrap();
    assert_eq!(decoded[0].records[1].timestamp_delta, -1_000);
    assert_kp_matches(&bytes, &records, BatchHeader::PLAIN);
}

#[test]
fn new_reuses_and_clears_the_buffer() {
    let mut old = vec![0xAB; 4096];
    old.truncate(100);
    let cap = old.capacity();
    let b = RecordBatchBuilder::new(old, 0);
    assert_eq!(b.size_in_bytes(), BATCH_HEADER_LEN);
    assert_eq!(b.record_count(), 0);
    assert!(b.is_empty());
    let buf = b.into_buffer();
    assert_eq!(buf.capacity(), cap);
    assert!(buf.iter().all(|&x| x == 0));
}

#[test]
fn empty_batch_closes_to_a_valid_header() {
    let bytes = RecordBatchBuilder::new(Vec::new(), 77).close(BatchHeader::PLAIN);
    assert_eq!(bytes.len(), BATCH_HEADER_LEN);
    let decoded = decode_batches(&bytes).unwrap();
    assert!(decoded[0].records.is_empty());
    assert_eq!(decoded[0].last_offset_delta, 0);
    assert_eq!(decoded[0].max_timestamp, NO_TIMESTAMP);
}

#[test]
fn size_accounting_is_exact() {
    let mut b = RecordBatchBuilder::new(Vec::new(), 1_000);
    let headers = [Header::new("key", &b"value"[..]), null_header("n")];
    let before = b.size_in_bytes();
    let predicted = b.record_size(900, Some(b"k"), Some(&[7; 200]), &headers);
    b.append(900, Some(b"k"), Some(&[7; 200]), &headers);
    assert_eq!(b.size_in_bytes() - before, predicted);
    // body: attributes 1 + ts delta -100 (2) + offset delta 1 + key 2 + value 202 + header count 1
    // + "key"/"value" 10 + "n"/null 3 = 222, plus a 2-byte length varint.
    assert_eq!(predicted, 2 + 222);
}

#[test]
fn has_room_for_boundaries() {
    let limit = 100;
    let mut b = RecordBatchBuilder::new(Vec::new(), 0);
    // An empty batch always has room, even for a record larger than the limit.
    assert!(b.has_room_for(0, None, Some(&[0; 500]), &[], 0));
    b.append(0, None, Some(b"first"), &[]);
    assert!(!b.is_full(limit));
    let size = b.size_in_bytes();
    let next = b.record_size(0, None, Some(b"second"), &[]);
    assert!(b.has_room_for(0, None, Some(b"second"), &[], size + next));
    assert!(!b.has_room_for(0, None, Some(b"second"), &[], size + next - 1));
    // A timestamp far from the base needs a longer delta varint, so more room.
    let far = b.record_size(1 << 40, None, Some(b"second"), &[]);
    assert!(far > next);
    assert!(!b.has_room_for(1 << 40, None, Some(b"second"), &[], size + next));
    assert!(b.is_full(size));
    assert!(!RecordBatchBuilder::new(Vec::new(), 0).is_full(0));
}

#[test]
fn restamp_rewrites_producer_fields_and_crc() {
    let records = varied_records();
    let original = build(&records, BatchHeader::PLAIN);
    let mut bytes = BytesMut::from(&original[..]);
    restamp(&mut bytes, 99, 3, 1_000).unwrap();
    assert_ne!(&bytes[17..21], &original[17..21], "CRC must change");
    let bytes = bytes.freeze();
    let stamped = BatchHeader {
        producer_id: 99,
        producer_epoch: 3,
        base_sequence: 1_000,
        is_transactional: false,
    };
    assert_kp_matches(&bytes, &records, stamped);
    assert_ours_matches(&bytes, &records, stamped);
}

#[test]
fn restamp_only_touches_the_first_batch_and_rejects_garbage() {
    let one = build(&varied_records()[..1], BatchHeader::PLAIN);
    let mut two = one.to_vec();
    two.extend_from_slice(&one);
    restamp(&mut two, 5, 5, 5).unwrap();
    assert_eq!(&two[one.len()..], &one[..], "second batch untouched");
    let decoded = decode_batches(&two).unwrap();
    assert_eq!(decoded[0].producer_id, 5);
    assert_eq!(decoded[1].producer_id, -1);

    assert!(matches!(
        restamp(&mut [0u8; 60], 1, 1, 1),
        Err(RestampError::TooShort { .. })
    ));
    let mut bad_magic = one.to_vec();
    bad_magic[16] = 1;
    assert_eq!(
        restamp(&mut bad_magic, 1, 1, 1),
        Err(RestampError::BadMagic(1))
    );
    let mut short = one.to_vec();
    short.pop();
    assert!(matches!(
        restamp(&mut short, 1, 1, 1),
        Err(RestampError::TooShort { .. })
    ));
}

#[test]
fn close_compressed_seam_writes_codec_and_valid_crc() {
    let records = varied_records();
    let mut b = RecordBatchBuilder::new(Vec::new(), records[0].timestamp);
    for r in &records {
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
    }
    let raw_records = b.records().to_vec();
    // A fake codec that reverses bytes, to prove the closure's output is what gets framed.
    let (bytes, spare) = b
        .close_compressed(
            BatchHeader::PLAIN,
            CompressionType::Lz4,
            Vec::with_capacity(1024),
            |records, out| {
                out.extend(records.iter().rev());
                Ok::<(), ()>(())
            },
        )
        .unwrap();
    assert!(spare.is_empty() && spare.capacity() >= raw_records.len());
    assert_eq!(bytes[22] & 0x07, 3);
    assert!(
        matches!(decode_batches(&bytes), Err(DecodeError::Decompress(_))),
        "CRC and framing accepted, the fake lz4 rejected"
    );
    let mut buf = bytes.clone();
    let set = RecordBatchDecoder::decode_with_custom_compression(
        &mut buf,
        Some(|compressed: &mut Bytes, c: Compression| {
            assert!(matches!(c, Compression::Lz4));
            Ok(Bytes::from(
                compressed.iter().rev().copied().collect::<Vec<u8>>(),
            ))
        }),
    )
    .unwrap();
    assert_eq!(set.records.len(), records.len());
    assert_eq!(set.records[0].key.as_deref(), Some(&b"key-1"[..]));

    // A failing codec surfaces its error.
    let b = RecordBatchBuilder::new(Vec::new(), 0);
    let failed = b.close_compressed(
        BatchHeader::PLAIN,
        CompressionType::Gzip,
        Vec::new(),
        |_, _| Err("boom"),
    );
    assert_eq!(failed.err(), Some("boom"));
}

#[test]
fn decoder_rejects_every_truncation_and_covered_corruption() {
    let bytes = build(&varied_records(), idempotent_header());
    for len in 1..bytes.len() {
        assert!(
            decode_batches(&bytes[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    for i in 0..bytes.len() {
        let mut garbled = bytes.to_vec();
        garbled[i] ^= 0x40;
        let result = decode_batches(&garbled);
        if (0..8).contains(&i) || (12..16).contains(&i) {
            // Base offset and leader epoch are outside the CRC, as in Kafka.
            assert!(result.is_ok(), "byte {i}");
        } else {
            assert!(result.is_err(), "byte {i}");
        }
    }
    assert_eq!(decode_batches(&[]), Ok(vec![]));
}

/// Frames `records_section` as a batch with a valid CRC, to reach the record parser.
fn frame(records_section: &[u8], count: i32) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Vec::new(), 0);
    b.buf.extend_from_slice(records_section);
    b.record_count = count;
    b.close(BatchHeader::PLAIN).to_vec()
}

#[test]
fn decoder_reports_bad_framing() {
    let mut one = Vec::new();
    write_varint(&mut one, 6);
    one.extend_from_slice(&[0, 0, 0, 1, 1, 0]); // null key, null value, no headers
    assert_eq!(decode_batches(&frame(&one, 1)).unwrap()[0].records.len(), 1);
    assert_eq!(
        decode_batches(&frame(&one, 2)),
        Err(DecodeError::RecordCount {
            declared: 2,
            found: 1
        })
    );
    assert_eq!(
        decode_batches(&frame(&one, -1)),
        Err(DecodeError::RecordCount {
            declared: -1,
            found: 0
        })
    );
    assert_eq!(
        decode_batches(&frame(&one, 0)),
        Err(DecodeError::TrailingBytes(7))
    );
    // Declares 7 bytes, but the fields end after 6.
    let mut long = one.clone();
    long[0] = 14;
    long.push(0xAA);
    assert_eq!(
        decode_batches(&frame(&long, 1)),
        Err(DecodeError::RecordSizeMismatch {
            record: 0,
            declared: 7,
            consumed: 6
        })
    );
    // Declares more bytes than the batch holds.
    let mut over = one.clone();
    over[0] = 16;
    assert_eq!(
        decode_batches(&frame(&over, 1)),
        Err(DecodeError::BadLength {
            record: 0,
            length: 8
        })
    );
    // A header count in the billions with no bytes behind it must fail, not allocate.
    let mut huge = Vec::new();
    write_varint(&mut huge, 10);
    huge.extend_from_slice(&[0, 0, 0, 1, 1]);
    write_varint(&mut huge, i32::MAX);
    assert_eq!(huge.len(), 11);
    assert!(decode_batches(&frame(&huge, 1)).is_err());
    // Invalid UTF-8 header key.
    let mut bad_key = Vec::new();
    write_varint(&mut bad_key, 9);
    bad_key.extend_from_slice(&[0, 0, 0, 1, 1, 2, 2, 0xff, 1]);
    assert_eq!(
        decode_batches(&frame(&bad_key, 1)),
        Err(DecodeError::BadHeaderKey { record: 0 })
    );
    // Absurd declared record count, bounded capacity.
    assert!(decode_batches(&frame(&[], i32::MAX)).is_err());
}

// ---- properties ----

fn header_strategy() -> impl Strategy<Value = Header> {
    (
        "[a-zA-Z0-9_\\-ü]{0,12}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
    )
        .prop_map(|(key, value)| Header {
            key,
            value: value.map(Bytes::from),
        })
}

fn record_strategy(max_value: usize, max_headers: usize) -> impl Strategy<Value = TestRecord> {
    (
        // Timestamps around 2023, ± ~35 years so deltas of both signs and many varint widths.
        1_700_000_000_000i64 - (1i64 << 40)..1_700_000_000_000i64 + (1i64 << 40),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max_value)),
        proptest::collection::vec(header_strategy(), 0..max_headers),
    )
        .prop_map(|(timestamp, key, value, mut headers)| {
            // kafka-protocol keeps headers in a map: unique keys for the cross-check.
            let mut seen = std::collections::HashSet::new();
            headers.retain(|h| seen.insert(h.key.clone()));
            TestRecord {
                timestamp,
                key,
                value,
                headers,
            }
        })
}

fn batch_header_strategy() -> impl Strategy<Value = BatchHeader> {
    (any::<i64>(), any::<i16>(), any::<i32>(), any::<bool>()).prop_map(
        |(producer_id, producer_epoch, base_sequence, is_transactional)| BatchHeader {
            producer_id,
            producer_epoch,
            base_sequence,
            is_transactional,
        },
    )
}

proptest! {
    #[test]
    fn round_trip_through_both_decoders(
        records in proptest::collection::vec(record_strategy(300, 6), 1..20),
        header in batch_header_strategy(),
    ) {
        let bytes = build(&records, header);
        assert_kp_matches(&bytes, &records, header);
        assert_ours_matches(&bytes, &records, header);
    }

    #[test]
    fn many_headers_round_trip(records in proptest::collection::vec(record_strategy(16, 200), 1..4)) {
        let bytes = build(&records, BatchHeader::PLAIN);
        assert_kp_matches(&bytes, &records, BatchHeader::PLAIN);
        assert_ours_matches(&bytes, &records, BatchHeader::PLAIN);
    }

    #[test]
    fn sizes_are_bounded_and_exact(records in proptest::collection::vec(record_strategy(300, 6), 1..20)) {
        let mut b = RecordBatchBuilder::new(Vec::new(), records[0].timestamp);
        for r in &records {
            let (k, v) = (r.key.as_deref(), r.value.as_deref());
            let before = b.size_in_bytes();
            let exact = b.record_size(r.timestamp, k, v, &r.headers);
            let bound = RecordBatchBuilder::record_size_upper_bound(k, v, &r.headers);
            prop_assert!(exact <= bound);
            prop_assert!(b.has_room_for(r.timestamp, k, v, &r.headers, before + exact));
            b.append(r.timestamp, k, v, &r.headers);
            prop_assert_eq!(b.size_in_bytes() - before, exact);
        }
        let total = b.size_in_bytes();
        prop_assert_eq!(b.close(BatchHeader::PLAIN).len(), total);
    }

    #[test]
    fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_batches(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_random_records_with_valid_crc(
        section in proptest::collection::vec(any::<u8>(), 0..256),
        count in any::<i32>(),
    ) {
        let _ = decode_batches(&frame(&section, count));
    }

    #[test]
    fn decoder_rejects_truncated_and_garbled_batches(
        records in proptest::collection::vec(record_strategy(64, 3), 1..5),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let bytes = build(&records, BatchHeader::PLAIN);
        let len = cut.index(bytes.len());
        prop_assert!(decode_batches(&bytes[..len]).is_err() || len == 0);
        let mut garbled = bytes.to_vec();
        let at = ATTRIBUTES_OFFSET + flip.index(bytes.len() - ATTRIBUTES_OFFSET);
        garbled[at] ^= 1 << bit;
        prop_assert!(decode_batches(&garbled).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn large_values_round_trip(
        size in (1usize << 20)..(2usize << 20),
        fill in any::<u8>(),
        ts in proptest::collection::vec(-10_000i64..10_000, 1..3),
    ) {
        let big = vec![fill; size];
        let mut records: Vec<TestRecord> = ts
            .iter()
            .map(|&d| TestRecord::new(1_700_000_000_000 + d, Some(b"big"), Some(&big[..]), vec![]))
            .collect();
        records.push(TestRecord::new(1_700_000_000_000, None, Some(b"small"), vec![null_header("x")]));
        let bytes = build(&records, idempotent_header());
        assert_kp_matches(&bytes, &records, idempotent_header());
        assert_ours_matches(&bytes, &records, idempotent_header());
    }
}

#[test]
fn quick_bound_is_never_below_the_upper_bound_or_the_exact_size() {
    let sizes = [
        0usize,
        1,
        63,
        64,
        127,
        128,
        8191,
        8192,
        16383,
        16384,
        1 << 20,
    ];
    for &k in &sizes {
        for &v in &sizes {
            let key = vec![1u8; k];
            let value = vec![2u8; v];
            let headers = [crate::Header::new("h".repeat(k % 200), vec![3u8; v % 300])];
            for hs in [&headers[..0], &headers[..]] {
                for (key, value) in [(None, None), (Some(&key[..]), Some(&value[..]))] {
                    let quick = RecordBatchBuilder::record_size_quick_bound(key, value, hs);
                    let upper = RecordBatchBuilder::record_size_upper_bound(key, value, hs);
                    assert!(quick >= upper, "k={k} v={v}: {quick} < {upper}");
                    let mut b = RecordBatchBuilder::new(Vec::new(), 0);
                    b.append(0, None, Some(b"x"), &[]);
                    let exact = b.record_size(i64::MAX / 2, key, value, hs);
                    assert!(quick >= exact, "k={k} v={v}: {quick} < exact {exact}");
                }
            }
        }
    }
}
