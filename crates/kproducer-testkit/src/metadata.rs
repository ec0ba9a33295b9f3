//! Topic metadata through librdkafka: waiting for a topic, learning partition leaders.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::unique_name;

/// A metadata-only client. A consumer, because consumers do not auto-create topics on a
/// metadata request (producers do), which would hide a missing topic.
pub(crate) fn metadata_client(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("testkit-meta"))
        .set("allow.auto.create.topics", "false")
        .create()
        .context("creating a librdkafka metadata client")
}

/// Partition → leader broker id for `topic`, as one metadata answer reports it.
///
/// Retries until the topic is known without errors and every partition has a leader, bounded
/// by `timeout`. Use it to assert that partitions are spread over brokers of a mock cluster.
///
/// ```no_run
/// use std::time::Duration;
/// let mock = kproducer_testkit::MockKafka::new(3)?;
/// mock.create_topic("t", 6)?;
/// let leaders = kproducer_testkit::partition_leaders(&mock.bootstrap(), "t", Duration::from_secs(5))?;
/// assert_eq!(leaders.len(), 6);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn partition_leaders(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<i32, i32>> {
    wait_until(bootstrap, topic, None, timeout)
}

/// Waits until metadata shows `topic` with exactly `partitions` partitions, each with a leader;
/// returns partition → leader broker id.
pub fn wait_for_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<i32, i32>> {
    wait_until(bootstrap, topic, Some(partitions), timeout)
}

fn wait_until(
    bootstrap: &str,
    topic: &str,
    partitions: Option<i32>,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<i32, i32>> {
    let client = metadata_client(bootstrap)?;
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = Duration::from_secs(2).min(remaining.max(Duration::from_millis(100)));
        let state = match client.fetch_metadata(Some(topic), attempt) {
            Err(e) => format!("metadata request failed: {e}"),
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                None => "topic not in metadata".to_owned(),
                Some(t) if t.error().is_some() => format!("topic error {:?}", t.error()),
                Some(t) => {
                    let leaders: BTreeMap<i32, i32> = t
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_none() && p.leader() >= 0)
                        .map(|p| (p.id(), p.leader()))
                        .collect();
                    let total = t.partitions().len();
                    let count_ok = partitions.is_none_or(|n| usize::try_from(n) == Ok(total));
                    if total > 0 && leaders.len() == total && count_ok {
                        return Ok(leaders);
                    }
                    format!(
                        "{total} partitions (wanted {partitions:?}), {} with a leader",
                        leaders.len()
                    )
                }
            },
        };
        if Instant::now() >= deadline {
            bail!("topic {topic:?} at {bootstrap} not ready within {timeout:?}: {state}");
        }
        // Polling for metadata to settle; the loop is bounded by the deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
}
