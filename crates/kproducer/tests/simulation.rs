//! Whole-producer simulation: the real core and accumulator (no copy) driven in virtual time
//! against kproducer-mock's in-process cluster, through the wire format, with seeded faults:
//! retriable errors per partition, lost answers, answers held past `request.timeout.ms`,
//! connections cut, leaders moving, brokers down and up.
//!
//! Per seed it checks what Java's idempotent producer promises: every acknowledged record is in
//! the log exactly once at its offset, nothing is duplicated or reordered per partition, every
//! send resolves by `delivery.timeout.ms`, and the same seed gives the same trace.
//!
//! ```text
//! KPRODUCER_SIM_SEEDS=N [KPRODUCER_SIM_FIRST=S] [KPRODUCER_SIM_RECORDS=R] \
//!     cargo test -p kproducer --release --test simulation -- --nocapture
//! ```
//! A failure prints its seed; `KPRODUCER_SIM_FIRST=<seed> KPRODUCER_SIM_SEEDS=1` replays it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kproducer::internals::core::sim::{NotSent, Simulated};
use kproducer::internals::core::ConnId;
use kproducer::partitioner::partition_for_key;
use kproducer::ProducerConfig;
use kproducer_mock::{codes, ClusterConfig, FaultAction, FaultRule, MockCluster, Schedule};

#[path = "common/sim_world.rs"]
mod sim_world;

use sim_world::{env_u64, SimWorld, TraceStyle};

const TOPIC: &str = "sim";

/// Trace names of the requests written, by API key.
const API_NAMES: [&str; 23] = [
    "write-produce",
    "write",
    "write",
    "write-metadata",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write",
    "write-apiversions",
    "write",
    "write",
    "write",
    "write-initproducerid",
];

/// What a run is made of.
#[derive(Debug, Clone)]
struct Scenario {
    records: usize,
    partitions: i32,
    brokers: i32,
    /// Records sent per virtual second.
    rate: u64,
    /// Per Produce partition: a retriable error instead of an append.
    error_rate: f64,
    /// Per request: processed, answer lost.
    drop_rate: f64,
    /// Per request: answer held past `request.timeout.ms`.
    hold_rate: f64,
    /// Per request: the connection is cut after the request took effect.
    cut_rate: f64,
    /// A random partition's leader moves this often.
    leader_move_every: Option<Duration>,
    /// A random broker goes down this often, for `down_for`.
    broker_down_every: Option<Duration>,
    down_for: Duration,
    /// One-way network latency.
    latency: Duration,
    /// Records carry keys (1,000 of them) and the producer picks partitions by their hash;
    /// otherwise each record names its partition, in turn.
    keyed: bool,
    config: Vec<(&'static str, &'static str)>,
}

impl Scenario {
    /// Every fault at once, at rates a producer must ride out.
    fn storm(records: usize) -> Self {
        Scenario {
            records,
            partitions: 6,
            brokers: 3,
            rate: 50_000,
            error_rate: 0.02,
            drop_rate: 0.002,
            hold_rate: 0.002,
            cut_rate: 0.002,
            leader_move_every: Some(Duration::from_millis(150)),
            broker_down_every: Some(Duration::from_millis(900)),
            down_for: Duration::from_millis(300),
            latency: Duration::from_micros(200),
            keyed: false,
            config: vec![
                // Fixed: the default `producer-N` counts producers in the process.
                ("client.id", "sim"),
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("linger.ms", "5"),
                ("batch.size", "16384"),
                ("request.timeout.ms", "1000"),
                ("delivery.timeout.ms", "30000"),
                ("retry.backoff.ms", "50"),
                ("retry.backoff.max.ms", "500"),
                ("reconnect.backoff.ms", "20"),
                ("reconnect.backoff.max.ms", "200"),
                ("metadata.max.age.ms", "2000"),
                ("max.in.flight.requests.per.connection", "5"),
            ],
        }
    }

    /// Issue #20's storm: a steady rate of retriable errors (a few dozen spoiled answers a
    /// second out of several hundred) on a 3-broker cluster while keyed records arrive at
    /// 20,000/s, `request.timeout.ms=1500`, idempotence on, Java's other defaults.
    fn error_storm(records: usize) -> Self {
        Scenario {
            records,
            partitions: 6,
            brokers: 3,
            rate: 20_000,
            error_rate: 0.06,
            drop_rate: 0.0,
            hold_rate: 0.0,
            cut_rate: 0.0,
            leader_move_every: None,
            broker_down_every: None,
            down_for: Duration::ZERO,
            latency: Duration::from_micros(300),
            keyed: true,
            config: vec![
                ("client.id", "sim"),
                ("request.timeout.ms", "1500"),
                ("linger.ms", "5"),
            ],
        }
    }

    fn producer_config(&self, bootstrap: &str) -> ProducerConfig {
        let mut kv: Vec<(String, String)> = vec![("bootstrap.servers".into(), bootstrap.into())];
        kv.extend(
            self.config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        ProducerConfig::from_map(kv).expect("valid config")
    }
}

/// This test's own events (the network's are [`sim_world::Ev`]'s).
#[derive(Debug)]
enum Own {
    /// The workload sends what it may.
    Send,
    LeaderMove,
    BrokerDown,
}

type Ev = sim_world::Ev<Own>;

/// What happened to one record.
#[derive(Debug, Clone)]
struct Fate {
    partition: i32,
    seq: u64,
    sent_at: Duration,
    resolved: Option<(Duration, Result<i64, String>)>,
}

struct World {
    /// The producer, the cluster and the network between them.
    sim: SimWorld<Own>,
    scenario: Scenario,
    fates: Arc<Mutex<Vec<Fate>>>,
    next_record: usize,
    next_seq: Vec<u64>,
    send_scheduled: bool,
    dumped: Option<String>,
}

/// Trace name and first value of a request written: the name by API key, the connection.
fn write_trace(api: i16, conn: ConnId) -> (&'static str, u64) {
    (
        API_NAMES.get(api as usize).copied().unwrap_or("write"),
        conn.0,
    )
}

impl World {
    fn new(seed: u64, scenario: Scenario) -> Self {
        let mut cluster = MockCluster::new(ClusterConfig {
            brokers: scenario.brokers,
            auto_create_topics: false,
            seed,
            ..ClusterConfig::default()
        });
        cluster
            .create_topic(TOPIC, scenario.partitions)
            .expect("topic");
        for (code, weight) in [
            (codes::NOT_LEADER_OR_FOLLOWER, 3.0),
            (codes::REQUEST_TIMED_OUT, 1.0),
            (codes::NOT_ENOUGH_REPLICAS, 1.0),
            (codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND, 1.0),
            (codes::LEADER_NOT_AVAILABLE, 1.0),
        ] {
            if scenario.error_rate > 0.0 {
                cluster.add_fault(
                    FaultRule::new(
                        FaultAction::Error(code),
                        Schedule::Rate(scenario.error_rate * weight / 7.0),
                    )
                    .api(0),
                );
            }
        }
        if scenario.drop_rate > 0.0 {
            cluster.add_fault(
                FaultRule::new(
                    FaultAction::DropResponse,
                    Schedule::Rate(scenario.drop_rate),
                )
                .api(0),
            );
        }
        if scenario.hold_rate > 0.0 {
            // Held past request.timeout.ms: the producer gives up on the connection first.
            cluster.add_fault(
                FaultRule::new(
                    FaultAction::Delay(Duration::from_millis(1500)),
                    Schedule::Rate(scenario.hold_rate),
                )
                .api(0),
            );
        }
        if scenario.cut_rate > 0.0 {
            cluster.add_fault(FaultRule::new(
                FaultAction::CloseConnection {
                    before_processing: false,
                },
                Schedule::Rate(scenario.cut_rate),
            ));
        }
        let producer = Simulated::new(
            scenario.producer_config(&sim_world::bootstrap(&cluster)),
            seed,
        );
        let partitions = scenario.partitions as usize;
        let style = TraceStyle {
            log_var: "KPRODUCER_SIM_TRACE",
            write: write_trace,
            drops: false,
            live: false,
        };
        let mut sim = SimWorld::new(seed, cluster, producer, scenario.latency, style);
        // The fault schedule's draws start one in (as they always have: same seed, same trace).
        let _ = sim.rng.next_u64();
        let mut w = World {
            sim,
            fates: Arc::new(Mutex::new(Vec::new())),
            next_record: 0,
            next_seq: vec![0; partitions],
            send_scheduled: false,
            dumped: None,
            scenario,
        };
        w.sim.schedule(Duration::ZERO, Ev::Own(Own::Send));
        w.send_scheduled = true;
        if let Some(every) = w.scenario.leader_move_every {
            w.sim.schedule(every, Ev::Own(Own::LeaderMove));
        }
        if let Some(every) = w.scenario.broker_down_every {
            w.sim.schedule(every, Ev::Own(Own::BrokerDown));
        }
        w
    }

    /// Appends records due by now (at `rate`), as a sending thread would, until memory runs out.
    fn send(&mut self) {
        self.send_scheduled = false;
        let interval = Duration::from_nanos(1_000_000_000 / self.scenario.rate.max(1));
        let due = (self.sim.now.as_nanos() / interval.as_nanos().max(1)) as usize + 1;
        let now = self.sim.instant();
        while self.next_record < self.scenario.records.min(due) {
            let i = self.next_record;
            let key = format!("key-{}", i % 1000);
            let partition = if self.scenario.keyed {
                partition_for_key(key.as_bytes(), self.scenario.partitions)
            } else {
                (i % self.scenario.partitions as usize) as i32
            };
            let seq = self.next_seq[partition as usize];
            let value = format!("{partition}:{seq}:{}", "x".repeat(60));
            let callback = self.sim.callback(i);
            let (explicit, key) = if self.scenario.keyed {
                (None, Some(key.as_bytes()))
            } else {
                (Some(partition), None)
            };
            match self.sim.producer.try_send(
                TOPIC,
                explicit,
                key,
                Some(value.as_bytes()),
                &[],
                self.sim.wall_ms(),
                callback,
                now,
            ) {
                Ok(()) => {
                    self.next_seq[partition as usize] += 1;
                    self.next_record += 1;
                    if let Ok(mut f) = self.fates.lock() {
                        f.push(Fate {
                            partition,
                            seq,
                            sent_at: self.sim.now,
                            resolved: None,
                        });
                    }
                    self.sim.record_trace("send", i as u64, 0);
                }
                // As a blocked `send`: try again a little later.
                Err(NotSent::NoMetadata) | Err(NotSent::NoMemory) => {
                    self.sim.schedule(
                        self.sim.now + Duration::from_micros(500),
                        Ev::Own(Own::Send),
                    );
                    self.send_scheduled = true;
                    return;
                }
                Err(NotSent::Refused(e)) => {
                    panic!("seed {}: record {i} refused: {e}", self.sim.seed)
                }
            }
        }
        if self.next_record < self.scenario.records {
            let next = interval * (self.next_record as u32);
            self.sim
                .schedule(next.max(self.sim.now + interval), Ev::Own(Own::Send));
            self.send_scheduled = true;
        } else {
            self.sim.producer.close();
        }
    }

    fn handle(&mut self, ev: Ev) {
        let Some(own) = self.sim.handle(ev) else {
            return;
        };
        match own {
            Own::Send => self.send(),
            Own::LeaderMove => {
                let p = (self.sim.rng.next_u64() % self.scenario.partitions as u64) as i32;
                let up = self.sim.up_brokers();
                if !up.is_empty() {
                    let b = up[(self.sim.rng.next_u64() % up.len() as u64) as usize];
                    let _ = self.sim.cluster.set_leader(TOPIC, p, b);
                    self.sim.record_trace("leader", p as u64, b as u64);
                }
                if let Some(every) = self.scenario.leader_move_every {
                    if !self.finished() {
                        self.sim
                            .schedule(self.sim.now + every, Ev::Own(Own::LeaderMove));
                    }
                }
            }
            Own::BrokerDown => {
                let ids = self.sim.cluster.broker_ids();
                let b = ids[(self.sim.rng.next_u64() % ids.len() as u64) as usize];
                let up_count = ids.iter().filter(|b| self.sim.cluster.is_up(**b)).count();
                if self.sim.cluster.is_up(b) && up_count > 1 {
                    self.sim.take_down(b);
                    let back = self.sim.now + self.scenario.down_for;
                    self.sim.schedule(back, Ev::BrokerUp(b));
                }
                if let Some(every) = self.scenario.broker_down_every {
                    if !self.finished() {
                        self.sim
                            .schedule(self.sim.now + every, Ev::Own(Own::BrokerDown));
                    }
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.next_record >= self.scenario.records && self.sim.producer.core.is_finished()
    }

    /// Runs to the end (or a virtual-time limit) and returns the trace hash.
    fn run(&mut self, limit: Duration) -> u64 {
        loop {
            self.sim.poll();
            self.settle_callbacks();
            if self.finished() {
                break;
            }
            if self.sim.advance(None).is_err() {
                panic!(
                    "seed {}: the core keeps asking to be woken at {:?} without progress",
                    self.sim.seed, self.sim.now
                );
            }
            if self.sim.now > limit
                || std::env::var_os("KPRODUCER_SIM_DUMP_AT").is_some_and(|v| {
                    v.to_string_lossy()
                        .parse::<f64>()
                        .is_ok_and(|t| self.sim.now.as_secs_f64() >= t && self.dumped.is_none())
                })
            {
                self.dumped = Some(format!(
                    "{:#?}\nqueued: {:?}",
                    self.sim.producer.core,
                    self.sim.producer.describe_queues()
                ));
                eprintln!(
                    "at {:?}: {}",
                    self.sim.now,
                    self.dumped.as_deref().unwrap_or_default()
                );
            }
            assert!(
                self.sim.now <= limit,
                "seed {}: not finished after {limit:?} of virtual time ({} of {} records sent, {} batches incomplete)",
                self.sim.seed,
                self.next_record,
                self.scenario.records,
                self.sim.producer.incomplete_batches()
            );
            while let Some(ev) = self.sim.pop_due() {
                self.handle(ev);
            }
        }
        self.sim.finish_trace(self.sim.seed)
    }

    fn settle_callbacks(&mut self) {
        let resolved = self.sim.take_resolved();
        if resolved.is_empty() {
            return;
        }
        let Ok(mut fates) = self.fates.lock() else {
            return;
        };
        for (i, r) in resolved {
            let fate = &mut fates[i];
            assert!(
                fate.resolved.is_none(),
                "seed {}: record {i} resolved twice",
                self.sim.seed
            );
            fate.resolved = Some((self.sim.now, r.map(|m| m.offset).map_err(|e| e.to_string())));
        }
    }

    /// Checks the log against what the producer was told.
    fn verify(&self) -> Summary {
        let fates = self.fates.lock().expect("fates").clone();
        let delivery_timeout = Duration::from_millis(
            self.scenario
                .config
                .iter()
                .find(|(k, _)| *k == "delivery.timeout.ms")
                .map_or(120_000, |(_, v)| v.parse().expect("ms")),
        );
        let mut s = Summary::default();
        // What the log holds: partition → [(offset, seq)].
        let mut logged: HashMap<(i32, u64), Vec<i64>> = HashMap::new();
        for p in 0..self.scenario.partitions {
            let records = self.sim.cluster.records(TOPIC, p).expect("records");
            let mut last_seq: Option<u64> = None;
            for r in records {
                let value = r.value.expect("value");
                let text = std::str::from_utf8(&value).expect("utf-8");
                let mut parts = text.split(':');
                let vp: i32 = parts
                    .next()
                    .and_then(|x| x.parse().ok())
                    .expect("partition");
                let seq: u64 = parts.next().and_then(|x| x.parse().ok()).expect("seq");
                assert_eq!(
                    vp, p,
                    "seed {}: a record in the wrong partition",
                    self.sim.seed
                );
                if let Some(prev) = last_seq {
                    if seq <= prev {
                        if seq == prev {
                            s.duplicated += 1;
                        } else {
                            s.reordered += 1;
                        }
                    }
                }
                last_seq = Some(last_seq.map_or(seq, |l| l.max(seq)));
                logged.entry((p, seq)).or_default().push(r.offset);
            }
        }
        for (i, f) in fates.iter().enumerate() {
            let Some((at, result)) = &f.resolved else {
                s.unresolved += 1;
                continue;
            };
            let took = at.saturating_sub(f.sent_at);
            s.worst_resolution = s.worst_resolution.max(took);
            if took > delivery_timeout + Duration::from_millis(1) {
                s.late += 1;
            }
            let in_log = logged.get(&(f.partition, f.seq));
            match result {
                Ok(offset) => {
                    s.acked += 1;
                    match in_log {
                        None => {
                            s.lost += 1;
                            if s.first_lost.is_none() {
                                s.first_lost = Some(format!(
                                    "record {i}: partition {} seq {} acked at offset {offset} after {:?}",
                                    f.partition, f.seq, at
                                ));
                            }
                        }
                        Some(offsets) => {
                            // -1: written, offset unknown (the broker had moved past it).
                            if *offset == -1 {
                                s.offset_unknown += 1;
                            } else if !offsets.contains(offset) {
                                s.wrong_offset += 1;
                                if s.first_wrong.is_none() {
                                    s.first_wrong =
                                        Some(format!("record {i}: told {offset}, log {offsets:?}"));
                                }
                            }
                        }
                    }
                }
                Err(_) => s.failed += 1,
            }
            if in_log.is_some_and(|o| o.len() > 1) {
                s.duplicated += 1;
            }
        }
        let stats = self.sim.cluster.stats();
        s.requests = stats.requests_of(0);
        s.duplicates_detected = stats.duplicates;
        s
    }
}

#[derive(Debug, Default)]
struct Summary {
    acked: usize,
    failed: usize,
    unresolved: usize,
    lost: usize,
    duplicated: usize,
    reordered: usize,
    wrong_offset: usize,
    offset_unknown: usize,
    first_wrong: Option<String>,
    first_lost: Option<String>,
    late: usize,
    worst_resolution: Duration,
    requests: u64,
    duplicates_detected: u64,
}

/// Runs one seed; panics with the seed on any violation.
fn run_seed(seed: u64, scenario: &Scenario) -> (u64, Summary, Duration) {
    let mut w = World::new(seed, scenario.clone());
    let trace = w.run(Duration::from_secs(600));
    let s = w.verify();
    let ok = s.unresolved == 0
        && s.lost == 0
        && s.duplicated == 0
        && s.reordered == 0
        && s.wrong_offset == 0
        && s.late == 0;
    assert!(
        ok,
        "seed {seed} failed (replay with KPRODUCER_SIM_FIRST={seed} KPRODUCER_SIM_SEEDS=1): {s:?}"
    );
    (trace, s, w.sim.now)
}

#[test]
fn seeded_fault_storms_lose_duplicate_and_reorder_nothing() {
    // Debug builds run fewer: the release run (scripts/test.sh) runs many.
    let default_seeds = if cfg!(debug_assertions) { 2 } else { 16 };
    let seeds = env_u64("KPRODUCER_SIM_SEEDS", default_seeds);
    let first = env_u64("KPRODUCER_SIM_FIRST", 1);
    let records = env_u64(
        "KPRODUCER_SIM_RECORDS",
        if cfg!(debug_assertions) {
            20_000
        } else {
            100_000
        },
    ) as usize;
    let scenario = Scenario::storm(records);
    let started = Instant::now();
    let mut total = Summary::default();
    for seed in first..first + seeds {
        let t = Instant::now();
        let (_, s, virtual_time) = run_seed(seed, &scenario);
        println!(
            "SIM seed={seed} records={records} acked={} failed={} produce_requests={} broker_dedups={} worst_resolution_ms={} virtual_s={:.2} wall_ms={}",
            s.acked,
            s.failed,
            s.requests,
            s.duplicates_detected,
            s.worst_resolution.as_millis(),
            virtual_time.as_secs_f64(),
            t.elapsed().as_millis()
        );
        total.acked += s.acked;
        total.failed += s.failed;
    }
    println!(
        "SIM {seeds} seeds x {records} records: acked={} failed={} wall={:.1}s",
        total.acked,
        total.failed,
        started.elapsed().as_secs_f64()
    );
    assert!(total.acked > 0);
}

#[test]
fn a_steady_storm_of_retriable_errors_delays_records_but_fails_none() {
    // Before the core's fixes, the same storm against a real-time cluster left 6,000-30,000 of
    // 100,000 records undelivered at delivery.timeout.ms (issue #20). Bound: a batch retried k
    // times waits at most k * retry.backoff.max.ms (1 s) plus its round trips, and the batches
    // behind it in its partition wait for it; at a 6 % error rate per partition answer, 8
    // failures in a row for one batch is below one in 10^9 attempts.
    let bound = Duration::from_secs(10);
    let seeds = env_u64(
        "KPRODUCER_SIM_SEEDS",
        if cfg!(debug_assertions) { 1 } else { 8 },
    );
    let first = env_u64("KPRODUCER_SIM_FIRST", 1);
    let records = env_u64(
        "KPRODUCER_SIM_RECORDS",
        if cfg!(debug_assertions) {
            20_000
        } else {
            100_000
        },
    ) as usize;
    let scenario = Scenario::error_storm(records);
    for seed in first..first + seeds {
        let (_, s, virtual_time) = run_seed(seed, &scenario);
        println!(
            "STORM seed={seed} records={records} acked={} failed={} produce_requests={} broker_dedups={} worst_resolution_ms={} virtual_s={:.2}",
            s.acked,
            s.failed,
            s.requests,
            s.duplicates_detected,
            s.worst_resolution.as_millis(),
            virtual_time.as_secs_f64()
        );
        assert_eq!(s.failed, 0, "seed {seed}: records failed in the storm");
        assert!(
            s.worst_resolution <= bound,
            "seed {seed}: a record waited {:?} (bound {bound:?})",
            s.worst_resolution
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let scenario = Scenario::storm(5_000);
    let (a, _, _) = run_seed(42, &scenario);
    let (b, _, _) = run_seed(42, &scenario);
    let (c, _, _) = run_seed(43, &scenario);
    assert_eq!(a, b, "a seed replays exactly");
    assert_ne!(a, c, "another seed takes another path");
}
