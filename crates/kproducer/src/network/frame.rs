//! Length-prefixed framing: request encoding and response frame extraction. No I/O here.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

use super::NetworkError;
use crate::protocol::record_batch::WireBuf;

/// One piece of a frame on its way to the socket: frame bytes, or a record batch written from
/// its own buffer (shared by reference count; the batch takes the buffer back once written).
#[derive(Debug, Clone)]
pub enum FramePiece {
    /// Frame bytes (header, lengths, names) or a batch given as [`Bytes`].
    Bytes(Bytes),
    /// A closed batch's bytes from `.1` on (more than 0 after a partial write).
    Wire(WireBuf, usize),
}

impl FramePiece {
    /// The bytes still to write.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            FramePiece::Bytes(b) => b,
            FramePiece::Wire(w, at) => w.get(*at..).unwrap_or_default(),
        }
    }

    /// Bytes still to write.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `n` more bytes as written (at most what is left).
    pub fn advance(&mut self, n: usize) {
        match self {
            FramePiece::Bytes(b) => b.advance(n.min(b.len())),
            FramePiece::Wire(w, at) => *at = (*at + n).min(w.len()),
        }
    }
}

impl std::ops::Deref for FramePiece {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Bytes> for FramePiece {
    fn from(b: Bytes) -> Self {
        FramePiece::Bytes(b)
    }
}

/// Byte offset of the correlation id in an encoded request frame: size (4), api key (2),
/// api version (2). Every request header version starts this way.
const CORRELATION_OFFSET: usize = 8;

/// Encodes `request` as one frame (size prefix, header, body) with correlation id 0; the
/// connection patches the real id in with [`set_correlation_id`] under its lock, so encoding
/// (the expensive part) happens outside it.
pub(crate) fn encode_request<R: Request>(
    request: &R,
    version: i16,
    client_id: &StrBytes,
) -> Result<BytesMut, NetworkError> {
    let encode_err = |e| encoding_failed(R::KEY, version, e);
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(client_id.clone()));
    let header_version = R::header_version(version);
    let size = header.compute_size(header_version).map_err(encode_err)?
        + request.compute_size(version).map_err(encode_err)?;
    let prefix = i32::try_from(size).map_err(|_| {
        NetworkError::Protocol(format!(
            "request of {size} bytes does not fit a Kafka frame"
        ))
    })?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(prefix);
    header
        .encode(&mut buf, header_version)
        .map_err(encode_err)?;
    request.encode(&mut buf, version).map_err(encode_err)?;
    if buf.len() != 4 + size {
        // A wrong size prefix would desynchronise the broker's framing; refuse to send.
        return Err(NetworkError::Protocol(format!(
            "API {} v{version} encoded to {} bytes but its computed size is {size}",
            R::KEY,
            buf.len() - 4
        )));
    }
    Ok(buf)
}

/// Produce versions [`encode_produce_parts`] writes (3: record batch v2; 13 switches to topic ids).
pub(crate) const PRODUCE_ENCODE_VERSIONS: (i16, i16) = (3, 12);
/// The first flexible Produce version (compact types, tagged fields, request header v2).
const PRODUCE_FLEXIBLE: i16 = 9;

/// One partition's record batch in a Produce request (see `encode_produce_parts`).
pub trait ProducePart {
    /// Topic name.
    fn topic(&self) -> &str;
    /// Partition id.
    fn partition(&self) -> i32;
    /// The record batch, sent from its own buffer.
    fn records(&self) -> &WireBuf;
}

/// Encodes a Produce request straight from the batches, without copying them (kafka-protocol's
/// encoder copies every batch into the frame) and without building a `ProduceRequest` (no
/// transactional id yet): the hot path's one hand-written message. Tests check it byte for byte
/// against kafka-protocol for every version. The frame's own bytes go into `scratch` (kept by
/// the caller, so its buffer is reused once the previous frames are written) and the pieces, in
/// order, are appended to `pieces`. Parts must come grouped by topic (the sender sorts a
/// request's batches by topic), so the request is written in one pass, whatever its size. Returns the head (size prefix,
/// header, up to the first record set), still writable for the correlation id.
pub(crate) fn encode_produce_parts<P: ProducePart>(
    acks: i16,
    timeout_ms: i32,
    parts: &[P],
    version: i16,
    client_id: &StrBytes,
    scratch: &mut BytesMut,
    pieces: &mut Vec<FramePiece>,
) -> Result<BytesMut, NetworkError> {
    encode_produce_parts_txn(
        acks, timeout_ms, parts, version, client_id, None, scratch, pieces,
    )
}

/// [`encode_produce_parts`] with a transactional id (a transactional producer's requests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_produce_parts_txn<P: ProducePart>(
    acks: i16,
    timeout_ms: i32,
    parts: &[P],
    version: i16,
    client_id: &StrBytes,
    transactional_id: Option<&str>,
    scratch: &mut BytesMut,
    pieces: &mut Vec<FramePiece>,
) -> Result<BytesMut, NetworkError> {
    if !(PRODUCE_ENCODE_VERSIONS.0..=PRODUCE_ENCODE_VERSIONS.1).contains(&version) {
        return Err(encoding_failed(0, version, "version out of range"));
    }
    let flexible = version >= PRODUCE_FLEXIBLE;
    let too_long = |what: &str, len: usize| {
        encoding_failed(0, version, format!("{what} of {len} bytes is too long"))
    };
    let client = client_id.as_bytes();
    let client_len =
        i16::try_from(client.len()).map_err(|_| too_long("client id", client.len()))?;
    if let Some(id) = transactional_id {
        if id.len() > i16::MAX as usize {
            return Err(too_long("transactional id", id.len()));
        }
    }
    for p in parts {
        if p.topic().len() > i16::MAX as usize {
            return Err(too_long("topic name", p.topic().len()));
        }
        if p.records().len() > i32::MAX as usize {
            return Err(too_long("record set", p.records().len()));
        }
    }
    // The frame's own bytes: header and, per partition, at most a name and a few numbers.
    let own = 32
        + client.len()
        + transactional_id.map_or(0, str::len)
        + parts.iter().map(|p| 24 + p.topic().len()).sum::<usize>();
    scratch.clear();
    scratch.reserve(own);
    let first_piece = pieces.len();
    let buf = scratch;
    let mut head: Option<BytesMut> = None;
    buf.put_i32(0); // size, back-filled
    buf.put_i16(0); // api key: Produce
    buf.put_i16(version);
    buf.put_i32(0); // correlation id, patched by the connection
    buf.put_i16(client_len);
    buf.put_slice(client);
    if flexible {
        buf.put_u8(0); // header tagged fields
    }
    let count = |buf: &mut BytesMut, n: usize| {
        if flexible {
            put_uvarint(buf, n as u64 + 1);
        } else {
            buf.put_i32(n as i32);
        }
    };
    match transactional_id {
        None if flexible => put_uvarint(buf, 0),
        None => buf.put_i16(-1),
        Some(id) if flexible => {
            put_uvarint(buf, id.len() as u64 + 1);
            buf.put_slice(id.as_bytes());
        }
        Some(id) => {
            buf.put_i16(id.len() as i16);
            buf.put_slice(id.as_bytes());
        }
    }
    buf.put_i16(acks);
    buf.put_i32(timeout_ms);
    // Runs of adjacent parts of one topic, in order: one pass (the caller groups parts by topic).
    let run_end = |i: usize| {
        let topic = parts[i].topic();
        i + parts[i..].iter().take_while(|p| p.topic() == topic).count()
    };
    debug_assert!(
        {
            let mut seen = std::collections::HashSet::new();
            let mut i = 0;
            let mut distinct = true;
            while i < parts.len() {
                distinct &= seen.insert(parts[i].topic());
                i = run_end(i);
            }
            distinct
        },
        "encode_produce_parts: parts must be grouped by topic"
    );
    let mut topics = 0;
    let mut i = 0;
    while i < parts.len() {
        topics += 1;
        i = run_end(i);
    }
    count(buf, topics);
    let mut i = 0;
    while i < parts.len() {
        let end = run_end(i);
        let run = &parts[i..end];
        i = end;
        let name = run[0].topic().as_bytes();
        if flexible {
            put_uvarint(buf, name.len() as u64 + 1);
        } else {
            buf.put_i16(name.len() as i16);
        }
        buf.put_slice(name);
        count(buf, run.len());
        for part in run {
            buf.put_i32(part.partition());
            let records = part.records();
            if flexible {
                put_uvarint(buf, records.len() as u64 + 1);
            } else {
                buf.put_i32(records.len() as i32);
            }
            if !records.is_empty() {
                let piece = buf.split();
                match head {
                    None => head = Some(piece),
                    Some(_) => pieces.push(piece.freeze().into()),
                }
                pieces.push(FramePiece::Wire(records.clone(), 0));
            }
            if flexible {
                buf.put_u8(0); // partition tagged fields
            }
        }
        if flexible {
            buf.put_u8(0); // topic tagged fields
        }
    }
    if flexible {
        buf.put_u8(0); // request tagged fields
    }
    let tail = buf.split();
    let mut head = match head {
        Some(h) => {
            if !tail.is_empty() {
                pieces.push(tail.freeze().into());
            }
            h
        }
        None => tail,
    };
    let body = head.len()
        + pieces[first_piece..]
            .iter()
            .map(FramePiece::len)
            .sum::<usize>()
        - 4;
    let prefix = i32::try_from(body).map_err(|_| {
        NetworkError::Protocol(format!(
            "request of {body} bytes does not fit a Kafka frame"
        ))
    })?;
    head[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(head)
}

/// Decodes a response frame (header, then body at `version`). Every array count in Produce and
/// Metadata answers is first checked against the bytes present (kafka-protocol pre-allocates
/// whatever count the wire claims).
pub(crate) fn decode_response<T: Decodable>(
    mut frame: Bytes,
    api_key: i16,
    version: i16,
    header_version: i16,
) -> Result<T, NetworkError> {
    let undecodable = |e: &dyn std::fmt::Display| {
        NetworkError::Protocol(format!(
            "cannot decode API {api_key} v{version} response: {e}"
        ))
    };
    ResponseHeader::decode(&mut frame, header_version).map_err(|e| undecodable(&e))?;
    // Bound every array count by the bytes present before kafka-protocol pre-allocates.
    super::bounded::check(api_key, version, &frame).map_err(|e| undecodable(&e.0))?;
    T::decode(&mut frame, version).map_err(|e| undecodable(&e))
}

/// Appends an unsigned varint (compact lengths and counts).
fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn encoding_failed(api_key: i16, version: i16, e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Protocol(format!("cannot encode API {api_key} v{version}: {e}"))
}

/// Writes `id` into an encoded request frame.
pub(crate) fn set_correlation_id(frame: &mut [u8], id: i32) {
    if let Some(slot) = frame.get_mut(CORRELATION_OFFSET..CORRELATION_OFFSET + 4) {
        slot.copy_from_slice(&id.to_be_bytes());
    }
}

/// The least a partial frame's buffer grows by.
const GROWTH_FLOOR: usize = 8 * 1024;

/// Takes one complete response frame (without its size prefix) off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, having grown `buf` for more of the frame: by
/// at most what it already holds (doubling), never by what the size prefix claims, so a hostile
/// prefix costs memory only as its bytes actually arrive (the buffer stays below twice the bytes
/// received plus a read's worth). The size must pass `limit` first. The body starts with the
/// correlation id, so sizes below 4 are invalid.
pub(crate) fn next_frame(buf: &mut BytesMut, limit: usize) -> Result<Option<Bytes>, NetworkError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let size = i32::from_be_bytes(*prefix);
    if size < 4 {
        return Err(NetworkError::Protocol(format!(
            "invalid response size {size} (a response holds at least its correlation id)"
        )));
    }
    let size = size as usize;
    if size > limit {
        // A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a size should be: the
        // broker speaks TLS and we do not.
        if matches!(prefix, [0x15 | 0x16, 0x03, 0x00..=0x04, _]) {
            return Err(NetworkError::Protocol(
                "the broker answered with TLS: this is an SSL or SASL_SSL listener; set \
                 security.protocol=SSL (or SASL_SSL) and the ssl.* keys"
                    .into(),
            ));
        }
        return Err(NetworkError::FrameTooLarge { size, limit });
    }
    if buf.len() < 4 + size {
        let missing = 4 + size - buf.len();
        let spare = buf.capacity() - buf.len();
        // Grow only once the room there is has been filled.
        if spare < missing.min(GROWTH_FLOOR) {
            buf.reserve(missing.min(buf.len().max(GROWTH_FLOOR)));
        }
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// The correlation id at the start of a response frame (all response header versions).
pub(crate) fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    frame.first_chunk::<4>().map(|b| i32::from_be_bytes(*b))
}

#[cfg(test)]
mod unit {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::decode_request_header_from_buffer;

    #[test]
    fn encoded_request_has_size_prefix_header_and_patched_id() {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kproducer"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let mut frame = encode_request(&req, 3, &StrBytes::from_static_str("cid")).unwrap();
        set_correlation_id(&mut frame, 0x0102_0304);
        let size = i32::from_be_bytes(*frame.first_chunk::<4>().unwrap()) as usize;
        assert_eq!(size, frame.len() - 4);
        let mut body = frame.freeze().slice(4..);
        let header = decode_request_header_from_buffer(&mut body).unwrap();
        assert_eq!(header.request_api_key, 18);
        assert_eq!(header.request_api_version, 3);
        assert_eq!(header.correlation_id, 0x0102_0304);
        assert_eq!(header.client_id.as_deref(), Some("cid"));
    }

    #[test]
    fn next_frame_waits_for_whole_frame_then_splits() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 7, 0xaa]);
        assert_eq!(next_frame(&mut buf, 100).unwrap(), None);
        assert!(buf.capacity() >= 10);
        buf.extend_from_slice(&[0xbb, 0, 0]); // completes the frame and starts the next
        let frame = next_frame(&mut buf, 100).unwrap().unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 7, 0xaa, 0xbb]);
        assert_eq!(response_correlation_id(&frame), Some(7));
        assert_eq!(&buf[..], &[0, 0]);
        assert_eq!(next_frame(&mut buf, 100).unwrap(), None);
    }

    #[test]
    fn next_frame_rejects_bad_sizes_without_reserving() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        assert_eq!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::FrameTooLarge {
                size: 0x7fff_ffff,
                limit: 1024
            })
        );
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert!(matches!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::Protocol(_))
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        assert!(matches!(
            next_frame(&mut buf, 1024),
            Err(NetworkError::Protocol(_))
        ));
    }

    #[test]
    fn a_claimed_size_is_paid_for_only_as_its_bytes_arrive() {
        // A 4-byte prefix claiming 60 MiB (under the limit) used to reserve all of it at once.
        let claimed: usize = 60 << 20;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(claimed as i32).to_be_bytes());
        buf.extend_from_slice(&[0u8; 100]);
        assert_eq!(next_frame(&mut buf, 64 << 20).expect("fine so far"), None);
        assert!(
            buf.capacity() < 64 << 10,
            "reserved {} bytes",
            buf.capacity()
        );
        // As bytes arrive (a read fills at most the spare room, as `read_buf` does) the buffer
        // grows with them: BytesMut at least doubles when it reallocates, so never more than
        // about twice what is held, plus a read's worth.
        let mut received = buf.len();
        while received < 4 + claimed {
            let room = buf.capacity() - buf.len();
            assert!(room > 0, "next_frame left no room for more of the frame");
            let chunk = room.min(1 << 20).min(4 + claimed - received);
            buf.extend_from_slice(&vec![7u8; chunk]);
            received += chunk;
            match next_frame(&mut buf, 64 << 20).expect("valid") {
                None => assert!(
                    buf.capacity() <= 3 * buf.len() + 64 * 1024,
                    "capacity {} for {} bytes held",
                    buf.capacity(),
                    buf.len()
                ),
                Some(frame) => {
                    assert_eq!(frame.len(), claimed);
                    break;
                }
            }
        }
    }

    fn produce_request(
        batches: &[(&str, i32, Option<Bytes>)],
    ) -> kafka_protocol::messages::ProduceRequest {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::TopicName;
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for (topic, p, records) in batches {
            let data = PartitionProduceData::default()
                .with_index(*p)
                .with_records(records.clone());
            match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        kafka_protocol::messages::ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(topics)
    }

    struct Part(&'static str, i32, WireBuf);

    impl ProducePart for Part {
        fn topic(&self) -> &str {
            self.0
        }
        fn partition(&self) -> i32 {
            self.1
        }
        fn records(&self) -> &WireBuf {
            &self.2
        }
    }

    #[test]
    fn produce_frames_from_parts_match_kafka_protocol_and_reuse_the_scratch_buffer() {
        let big = WireBuf::from_vec(vec![7u8; 20_000]);
        let small = WireBuf::from_vec(vec![1u8; 300]);
        let cases: Vec<Vec<Part>> = vec![
            vec![Part("orders", 0, big.clone())],
            // Several topics, one with two partitions, an empty set.
            vec![
                Part("orders", 3, big.clone()),
                Part("orders", 0, WireBuf::from_vec(b"batch-zero".to_vec())),
                Part("élan-топик", 1, small.clone()),
                Part("empty", 0, WireBuf::default()),
            ],
            vec![],
        ];
        let client = StrBytes::from_static_str("producer-1");
        let mut scratch = BytesMut::with_capacity(4096);
        let mut pieces = Vec::new();
        for version in PRODUCE_ENCODE_VERSIONS.0..=PRODUCE_ENCODE_VERSIONS.1 {
            for parts in &cases {
                // kafka-protocol's request groups by topic in first-seen order, as we do.
                let as_tuples: Vec<(&str, i32, Option<Bytes>)> = parts
                    .iter()
                    .map(|p| (p.0, p.1, Some(p.2.to_bytes())))
                    .collect();
                let request = produce_request(&as_tuples);
                let expected = encode_request(&request, version, &client).expect("kafka-protocol");
                pieces.clear();
                let head = encode_produce_parts(
                    request.acks,
                    request.timeout_ms,
                    parts,
                    version,
                    &client,
                    &mut scratch,
                    &mut pieces,
                )
                .expect("ours");
                let mut ours = head.to_vec();
                for piece in &pieces {
                    ours.extend_from_slice(piece);
                }
                assert_eq!(ours, expected.to_vec(), "v{version}, {} parts", parts.len());
                for p in parts.iter().filter(|p| !p.2.is_empty()) {
                    assert!(
                        pieces.iter().any(|x| x.as_ptr() == p.2.as_ptr()),
                        "v{version}: a batch was copied"
                    );
                }
            }
        }
        // The scratch buffer serves frame after frame: no allocation per frame.
        let mut scratch = BytesMut::with_capacity(256);
        pieces.clear();
        let parts = [Part("orders", 0, small.clone())];
        let head = encode_produce_parts(1, 30_000, &parts, 9, &client, &mut scratch, &mut pieces)
            .expect("ours");
        let first = head.as_ptr();
        drop(head);
        pieces.clear();
        let head = encode_produce_parts(1, 30_000, &parts, 9, &client, &mut scratch, &mut pieces)
            .expect("ours");
        let within = |p: *const u8| {
            let (a, b) = (first as usize, p as usize);
            b > a && b < a + 256
        };
        assert!(within(head.as_ptr()), "the head came from the same buffer");
        assert!(
            encode_produce_parts(1, 0, &parts, 13, &client, &mut scratch, &mut pieces).is_err()
        );
    }
}

#[cfg(test)]
mod scaling_tests {
    use std::cell::Cell;

    use super::*;

    /// A part that counts how often the encoder reads its topic.
    struct Counted<'a> {
        topic: String,
        records: WireBuf,
        reads: &'a Cell<usize>,
    }

    impl ProducePart for Counted<'_> {
        fn topic(&self) -> &str {
            self.reads.set(self.reads.get() + 1);
            &self.topic
        }
        fn partition(&self) -> i32 {
            0
        }
        fn records(&self) -> &WireBuf {
            &self.records
        }
    }

    #[test]
    fn a_request_is_written_in_one_pass_over_its_partitions() {
        // Grouping partitions by topic used to compare every part with every earlier one:
        // 2,000 topics took about 4 million topic reads.
        const PARTS: usize = 2_000;
        let reads = Cell::new(0);
        let wire = WireBuf::from_vec(vec![0u8; 61]);
        let parts: Vec<Counted<'_>> = (0..PARTS)
            .map(|i| Counted {
                topic: format!("topic-{i:05}"),
                records: wire.clone(),
                reads: &reads,
            })
            .collect();
        let (mut scratch, mut pieces) = (BytesMut::new(), Vec::new());
        let client = StrBytes::from_static_str("c");
        encode_produce_parts(1, 1000, &parts, 9, &client, &mut scratch, &mut pieces)
            .expect("encodes");
        assert!(
            reads.get() <= 20 * PARTS,
            "{} topic reads for {PARTS} parts",
            reads.get()
        );
    }
}

#[cfg(test)]
mod piece_tests {
    use super::*;

    #[test]
    fn a_wire_piece_advances_over_partial_writes_without_copying() {
        let wire = WireBuf::from_vec((0u8..10).collect());
        let mut piece = FramePiece::Wire(wire.clone(), 0);
        assert_eq!(piece.len(), 10);
        piece.advance(4);
        assert_eq!(&piece[..], &[4, 5, 6, 7, 8, 9]);
        assert_eq!(piece.as_ptr(), wire[4..].as_ptr());
        piece.advance(100);
        assert!(piece.is_empty());
        let mut bytes = FramePiece::from(Bytes::from_static(b"abc"));
        bytes.advance(1);
        assert_eq!(&bytes[..], b"bc");
        bytes.advance(5);
        assert!(bytes.is_empty());
    }
}
