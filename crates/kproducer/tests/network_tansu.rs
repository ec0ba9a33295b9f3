//! The network layer against a real broker: Tansu 0.6 (single node, in-memory storage).
//!
//! Needs the `tansu` binary (built by `scripts/setup.sh`). A missing binary fails the test
//! rather than skipping it, so a green run always means the real broker was exercised.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataRequest;
use kproducer::network::{Connection, ConnectionConfig};

/// Kills the broker when the test ends, whatever the outcome.
struct Broker {
    child: Child,
    addr: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tansu_binary() -> PathBuf {
    let candidates = std::env::var_os("TANSU_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("tansu"))
                .collect::<Vec<_>>()
        }))
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu")));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("the tansu broker binary was not found (TANSU_BIN, PATH, ~/.cargo/bin): run scripts/setup.sh to build it");
}

fn start_tansu() -> Broker {
    let binary = tansu_binary();
    // Ask the OS for a free port; the tiny window before tansu binds it is acceptable here.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&binary)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    Broker {
        child,
        addr: format!("127.0.0.1:{port}"),
    }
}

/// Connects, retrying while the broker starts (it usually answers within 0.1 s).
async fn connect(broker: &mut Broker) -> Connection {
    let config = ConnectionConfig {
        client_id: "network-tansu-test".into(),
        connect_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Connection::connect(&broker.addr, &config).await {
            Ok(conn) => return conn,
            Err(e) => {
                if let Ok(Some(status)) = broker.child.try_wait() {
                    panic!("tansu exited with {status} before accepting connections");
                }
                assert!(Instant::now() < deadline, "tansu not reachable: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn tansu_negotiates_api_versions_and_answers_metadata() {
    let mut broker = start_tansu();
    let conn = connect(&mut broker).await;

    let versions = conn.api_versions();
    let (produce_min, produce_max) = versions.range(0).expect("Tansu announces Produce");
    assert!(
        produce_max >= 3,
        "Produce v3+ needed, Tansu announces {produce_min}..={produce_max}"
    );
    assert!(versions.highest_common(0, 3, 13).is_some());

    let metadata_version = versions
        .highest_common(3, 0, 12)
        .expect("Tansu announces Metadata");
    let metadata = tokio::time::timeout(
        Duration::from_secs(10),
        conn.request(&MetadataRequest::default(), metadata_version),
    )
    .await
    .expect("Metadata answered within 10 s")
    .expect("Metadata response");
    assert_eq!(metadata.brokers.len(), 1, "Tansu is a single node");
    let port: i32 = broker.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(metadata.brokers[0].port, port, "advertised listener");
    assert_eq!(conn.in_flight(), 0);
    conn.close();
    assert!(conn.is_closed());
}
