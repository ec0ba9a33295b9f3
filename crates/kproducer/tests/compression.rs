//! Every codec × level (Java's min, default, max) written to the in-process broker by kproducer and read back
//! identically by librdkafka (an independent decoder of every codec, with its C codecs): small
//! records, a 1 MiB record, headers, null keys and null values.

use std::time::Duration;

use kproducer::{Header, Producer, ProducerConfig, ProducerRecord};
use kproducer_mock::ClusterConfig;
use kproducer_testkit::{read_all, unique_name, Broker};

type Sent = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

/// Pseudo-random bytes (incompressible), splitmix64.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed << 40;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The workload: small keyed/unkeyed records, tombstones, empty values, headers (one with a
/// null value), and one 1 MiB value (half compressible text, half noise).
fn records(topic: &str) -> Vec<ProducerRecord<Vec<u8>, Vec<u8>>> {
    let mut out = Vec::new();
    for i in 0..40u64 {
        let mut r = ProducerRecord::empty(topic);
        r.key = (i % 3 != 0).then(|| format!("key-{i}").into_bytes());
        r.value = match i % 9 {
            4 => None,
            5 => Some(Vec::new()),
            6 => Some(noise(300, i + 1)),
            _ => Some(format!("value {i} {}", "lorem ipsum ".repeat(i as usize % 20)).into_bytes()),
        };
        if i % 4 == 0 {
            r.headers
                .push(Header::new("trace", format!("t-{i}").into_bytes()));
            r.headers.push(Header {
                key: "null".into(),
                value: None,
            });
        }
        r.timestamp = Some(1_700_000_000_000 + i as i64);
        out.push(r);
        if i == 20 {
            let mut big = "kafka compression ".repeat(1 << 15).into_bytes();
            big.truncate(1 << 19);
            big.extend_from_slice(&noise(1 << 19, 99));
            let mut r = ProducerRecord::empty(topic);
            r.key = Some(b"big".to_vec());
            r.value = Some(big);
            out.push(r);
        }
    }
    out
}

async fn round_trip(codec: &str, level_key: Option<&str>, levels: &[&str]) {
    // The 1 MiB record barely shrinks at zstd's fastest levels: like a Kafka topic set up for
    // such records, the broker takes batches up to max.request.size (Kafka's default
    // message.max.bytes, 1 MB, answers MESSAGE_TOO_LARGE, as it should).
    let cfg = ClusterConfig {
        max_message_bytes: 2_097_152 + 1024,
        ..ClusterConfig::default()
    };
    let broker = Broker::start_with(cfg, None).expect("broker starts");
    for level in levels {
        let topic = unique_name(&format!("compression-{codec}"));
        broker.create_topic(&topic, 1).expect("topic");
        let mut props = vec![
            ("bootstrap.servers".to_string(), broker.bootstrap()),
            ("compression.type".into(), codec.into()),
            ("max.request.size".into(), "2097152".into()),
            ("linger.ms".into(), "5".into()),
            ("batch.size".into(), "4096".into()),
        ];
        if let Some(k) = level_key {
            props.push((k.to_string(), level.to_string()));
        }
        let producer: Producer<Vec<u8>, Vec<u8>> =
            Producer::new(ProducerConfig::from_map(props).expect("config")).expect("producer");
        let recs = records(&topic);
        let sent: Vec<Sent> = recs
            .iter()
            .map(|r| {
                (
                    r.key.clone(),
                    r.value.clone(),
                    r.headers
                        .iter()
                        .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                        .collect(),
                )
            })
            .collect();
        let mut futures = Vec::new();
        for r in recs {
            futures.push(producer.send(r).await.expect("accepted"));
        }
        for (i, f) in futures.into_iter().enumerate() {
            f.await
                .unwrap_or_else(|e| panic!("{codec} level {level}: record {i} failed: {e}"));
        }
        producer.close(Duration::from_secs(10)).await;

        let (bootstrap, t, n) = (broker.bootstrap(), topic.clone(), sent.len());
        let read = tokio::task::spawn_blocking(move || {
            read_all(&bootstrap, &t, Some(n), Duration::from_secs(60))
        })
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{codec} level {level}: librdkafka reads: {e:#}"));
        assert_eq!(read.len(), sent.len(), "{codec} level {level}: count");
        for (i, (got, (k, v, h))) in read.iter().zip(&sent).enumerate() {
            assert_eq!(&got.key, k, "{codec} level {level}: key of record {i}");
            assert!(
                got.value == *v,
                "{codec} level {level}: value of record {i} differs"
            );
            assert_eq!(
                &got.headers, h,
                "{codec} level {level}: headers of record {i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_every_level_round_trips_through_librdkafka() {
    round_trip("gzip", Some("compression.gzip.level"), &["1", "-1", "9"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snappy_round_trips_through_librdkafka() {
    round_trip("snappy", None, &["-"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_every_level_round_trips_through_librdkafka() {
    round_trip("lz4", Some("compression.lz4.level"), &["1", "9", "17"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_every_level_round_trips_through_librdkafka() {
    round_trip(
        "zstd",
        Some("compression.zstd.level"),
        &["-131072", "3", "22"],
    )
    .await;
}
