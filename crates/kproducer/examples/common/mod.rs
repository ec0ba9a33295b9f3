//! Where the examples send: the cluster named by the first argument or `BOOTSTRAP_SERVERS`,
//! else a one-broker cluster started in this process (kproducer-mock on loopback TCP), so every
//! example runs to completion with nothing else installed.

// Each example uses part of this module.
#![allow(dead_code)]

use std::error::Error;

use kproducer_testkit::Broker;

/// The cluster an example talks to.
pub struct Cluster {
    /// What `bootstrap.servers` should be.
    pub bootstrap: String,
    /// The in-process broker, when no address was given; it stops when dropped.
    local: Option<Broker>,
}

impl Cluster {
    /// The first argument or `BOOTSTRAP_SERVERS`, else a local in-process broker.
    pub fn from_args() -> Result<Cluster, Box<dyn Error>> {
        let given = std::env::args()
            .nth(1)
            .or_else(|| std::env::var("BOOTSTRAP_SERVERS").ok())
            .filter(|s| !s.is_empty());
        match given {
            Some(bootstrap) => {
                println!("using the cluster at {bootstrap}");
                Ok(Cluster {
                    bootstrap,
                    local: None,
                })
            }
            None => {
                let broker = Broker::start()?;
                println!(
                    "started an in-process broker at {} (pass an address or set BOOTSTRAP_SERVERS for a real cluster)",
                    broker.bootstrap()
                );
                Ok(Cluster {
                    bootstrap: broker.bootstrap(),
                    local: Some(broker),
                })
            }
        }
    }

    /// Creates `topic` with `partitions` partitions on the local broker. A real cluster must have
    /// it already (or create topics on first use, with its default partition count).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), Box<dyn Error>> {
        if let Some(broker) = &self.local {
            broker.create_topic(topic, partitions)?;
        }
        Ok(())
    }

    /// The records of `topic`-`partition` as the local broker stored them (key, value and
    /// headers as text); `None` for a real cluster, which this helper does not consume from.
    pub fn stored(&self, topic: &str, partition: i32) -> Option<Vec<String>> {
        let broker = self.local.as_ref()?;
        let cluster = broker.cluster();
        let cluster = cluster.lock().ok()?;
        let text =
            |b: Option<&[u8]>| b.map_or("null".into(), |b| String::from_utf8_lossy(b).into_owned());
        let records = cluster.records(topic, partition).ok()?;
        Some(
            records
                .iter()
                .map(|r| {
                    let headers: Vec<String> = r
                        .headers
                        .iter()
                        .map(|h| format!("{}={}", h.key, text(h.value.as_deref())))
                        .collect();
                    format!(
                        "offset {} key {} value {} headers [{}]",
                        r.offset,
                        text(r.key.as_deref()),
                        text(r.value.as_deref()),
                        headers.join(", ")
                    )
                })
                .collect(),
        )
    }
}
