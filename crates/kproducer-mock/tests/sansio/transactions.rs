//! Transactions (Kafka 4.x's coordinator, markers, last stable offset, read_committed),
//! with transaction version 2 (the default) and 1.

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kproducer_mock::{
    codes, ClusterConfig, FaultAction, FaultRule, MockCluster, Schedule, TransactionState,
    TxnStatus,
};

use crate::common::*;

const ADD_PARTITIONS: i16 = 24;
const END_TXN: i16 = 26;

fn txn_cluster(brokers: i32, transaction_version: i16) -> MockCluster {
    let mut c = MockCluster::new(ClusterConfig {
        brokers,
        transaction_version,
        ..ClusterConfig::default()
    });
    c.create_topic("t", 2).unwrap();
    c
}

fn tid(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

fn init(c: &mut MockCluster, broker: i32, id: &str) -> InitProducerIdResponse {
    call(
        c,
        broker,
        5,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(tid(id)))
            .with_transaction_timeout_ms(60_000),
    )
}

/// InitProducerId that must succeed: (producer id, epoch).
fn init_ok(c: &mut MockCluster, id: &str) -> (i64, i16) {
    let r = init(c, 1, id);
    assert_eq!(r.error_code, 0, "init {id}");
    (r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn (client form, v0–v3): the code of each partition.
fn add_partitions(
    c: &mut MockCluster,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[i32],
) -> Vec<i16> {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(parts.to_vec())]);
    let resp = call(c, 1, version, &req);
    resp.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> bytes::Bytes {
    batch(&BatchSpec {
        transactional: true,
        ..BatchSpec::idempotent(pid, epoch, seq, n)
    })
}

/// A transactional Produce of one batch to t-`partition`: (error code, base offset).
fn produce_txn(
    c: &mut MockCluster,
    version: i16,
    id: &str,
    partition: i32,
    records: bytes::Bytes,
) -> (i16, i64) {
    let req = produce_request(-1, &[("t", partition, Some(records))])
        .with_transactional_id(Some(tid(id)));
    let resp = call(c, 1, version, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn end_txn(
    c: &mut MockCluster,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> EndTxnResponse {
    call(
        c,
        1,
        version,
        &EndTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
    )
}

fn fetch(c: &mut MockCluster, partition: i32, isolation: i8) -> fetch_response::PartitionData {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1 << 20)])]);
    call(c, 1, 12, &req).responses[0].partitions[0].clone()
}

/// The (offset, value) of the data records of a fetch answer, and the control batches'
/// offsets.
fn fetched(p: &fetch_response::PartitionData) -> (Vec<(i64, String)>, Vec<i64>) {
    let mut recs = p.records.clone().unwrap_or_default();
    let mut data = Vec::new();
    let mut control = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut recs).unwrap() {
        for r in set.records {
            if r.control {
                control.push(r.offset);
            } else {
                let v = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                data.push((r.offset, v.unwrap_or_default()));
            }
        }
    }
    (data, control)
}

fn list_latest(c: &mut MockCluster, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1)])]);
    let resp = call(c, 1, 8, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

#[test]
fn init_keeps_the_producer_id_bumps_the_epoch_and_fences_the_previous_holder() {
    let mut c = txn_cluster(1, 2);
    let (pid, e0) = init_ok(&mut c, "tx");
    assert_eq!(e0, 0);
    let (pid1, e1) = init_ok(&mut c, "tx");
    assert_eq!((pid1, e1), (pid, 1), "same producer id, next epoch");
    // Another transactional id gets another producer id.
    assert_ne!(init_ok(&mut c, "other").0, pid);
    // The fenced holder (epoch 0): PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before.
    assert_eq!(
        add_partitions(&mut c, 3, "tx", pid, 0, &[0]),
        [codes::PRODUCER_FENCED]
    );
    assert_eq!(
        add_partitions(&mut c, 1, "tx", pid, 0, &[0]),
        [codes::INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(
        end_txn(&mut c, 5, "tx", pid, 0, true).error_code,
        codes::PRODUCER_FENCED
    );
    assert_eq!(
        end_txn(&mut c, 1, "tx", pid, 0, true).error_code,
        codes::INVALID_PRODUCER_EPOCH
    );
    // A producer id the coordinator never gave this id.
    assert_eq!(
        add_partitions(&mut c, 3, "tx", pid + 100, 1, &[0]),
        [codes::INVALID_PRODUCER_ID_MAPPING]
    );
    // Its transactional batches are refused too.
    assert_eq!(
        produce_txn(&mut c, 11, "tx", 0, txn_batch(pid, 0, 0, 1)).0,
        codes::INVALID_PRODUCER_EPOCH
    );
    // KIP-360: an expected id and epoch that do not match are fenced.
    let stale = InitProducerIdRequest::default()
        .with_transactional_id(Some(tid("tx")))
        .with_transaction_timeout_ms(1_000)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(0);
    assert_eq!(
        call(&mut c, 1, 4, &stale).error_code,
        codes::PRODUCER_FENCED
    );
    assert_eq!(
        call(&mut c, 1, 3, &stale).error_code,
        codes::INVALID_PRODUCER_EPOCH
    );
    let current = stale.with_producer_epoch(1);
    let r = call(&mut c, 1, 4, &current);
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pid, 2)
    );
}

#[test]
fn transaction_timeouts_are_validated() {
    let mut c = txn_cluster(1, 2);
    for bad in [0, -1, 900_001] {
        let r = call(
            &mut c,
            1,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(tid("tx")))
                .with_transaction_timeout_ms(bad),
        );
        assert_eq!(r.error_code, codes::INVALID_TRANSACTION_TIMEOUT, "{bad}");
        assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
    }
    let r = call(
        &mut c,
        1,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(tid("tx")))
            .with_transaction_timeout_ms(900_000),
    );
    assert_eq!(r.error_code, 0);
    assert_eq!(c.transaction("tx").unwrap().timeout_ms, 900_000);
}

#[test]
fn only_the_coordinator_answers() {
    let mut c = txn_cluster(3, 2);
    let answers: Vec<i16> = (1..=3).map(|b| init(&mut c, b, "tx").error_code).collect();
    assert_eq!(
        answers.iter().filter(|&&e| e == 0).count(),
        1,
        "one coordinator: {answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|&&e| e == codes::NOT_COORDINATOR)
            .count(),
        2
    );
    let coordinator = answers.iter().position(|&e| e == 0).unwrap() as i32 + 1;
    // The coordinator moves when its broker goes down, deterministically.
    c.set_broker_up(coordinator, false);
    let up: Vec<i32> = (1..=3).filter(|&b| b != coordinator).collect();
    let now: Vec<i16> = up
        .iter()
        .map(|&b| init(&mut c, b, "tx").error_code)
        .collect();
    assert_eq!(now.iter().filter(|&&e| e == 0).count(), 1, "{now:?}");
}

#[test]
fn commit_writes_markers_and_read_committed_sees_the_records() {
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    // Non-transactional data first.
    produce_one(&mut c, 1, 9, "t", 0, batch(&BatchSpec::values(2)));
    assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0, 1]), [0, 0]);
    let info = c.transaction("tx").unwrap();
    assert_eq!(info.state, TransactionState::Ongoing);
    assert_eq!(
        info.partitions,
        [("t".to_string(), 0), ("t".to_string(), 1)]
    );
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 0, 3)),
        (0, 2)
    );
    // Open: above the last stable offset.
    assert_eq!(c.last_stable_offset("t", 0), 2);
    assert_eq!(c.high_watermark("t", 0), 5);
    assert_eq!(c.transaction_status("t", 0, 3), Some(TxnStatus::Open));
    assert_eq!(
        c.transaction_status("t", 0, 0),
        Some(TxnStatus::NotTransactional)
    );
    let p = fetch(&mut c, 0, 1);
    assert_eq!((p.high_watermark, p.last_stable_offset), (5, 2));
    assert_eq!(fetched(&p).0.len(), 2, "read_committed: only below the LSO");
    assert_eq!(fetched(&fetch(&mut c, 0, 0)).0.len(), 5, "read_uncommitted");
    assert_eq!(list_latest(&mut c, 1), 2);
    assert_eq!(list_latest(&mut c, 0), 5);
    assert_eq!(c.committed_records("t", 0).unwrap().len(), 2);

    let r = end_txn(&mut c, 3, "tx", pid, epoch, true);
    assert_eq!(r.error_code, 0);
    // A marker on each partition of the transaction (partition 1 got no data).
    for (p, at) in [(0, 5), (1, 0)] {
        let b = c.batches("t", p).last().unwrap().clone();
        assert!(b.is_control && b.is_transactional, "t-{p}");
        assert_eq!(
            (b.base_offset, b.producer_id, b.producer_epoch),
            (at, pid, epoch)
        );
        assert_eq!(b.control_type(), Some(true), "COMMIT");
        assert_eq!(c.transaction_status("t", p, at), Some(TxnStatus::Marker));
    }
    assert_eq!(c.transaction_status("t", 0, 3), Some(TxnStatus::Committed));
    assert_eq!(c.last_stable_offset("t", 0), 6);
    assert_eq!(list_latest(&mut c, 1), 6);
    let p = fetch(&mut c, 0, 1);
    let (data, control) = fetched(&p);
    assert_eq!(data.len(), 5);
    assert_eq!(control, [5]);
    assert_eq!(p.aborted_transactions, Some(vec![]));
    let committed: Vec<i64> = c
        .committed_records("t", 0)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(committed, [0, 1, 2, 3, 4]);
    let info = c.transaction("tx").unwrap();
    assert_eq!(info.state, TransactionState::CompleteCommit);
    assert!(info.partitions.is_empty());
    assert_eq!(info.producer_epoch, epoch, "version 1: no bump");
    let stats = c.stats();
    assert_eq!(
        (
            stats.transactions_committed,
            stats.transactions_aborted,
            stats.markers_written
        ),
        (1, 0, 2)
    );
    // A retried commit is answered again, an abort now is an invalid transition.
    assert_eq!(end_txn(&mut c, 3, "tx", pid, epoch, true).error_code, 0);
    assert_eq!(
        end_txn(&mut c, 3, "tx", pid, epoch, false).error_code,
        codes::INVALID_TXN_STATE
    );
    assert_eq!(c.stats().markers_written, 2, "nothing written again");
}

#[test]
fn abort_lists_the_aborted_transaction_and_hides_its_records() {
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0]), [0]);
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 0, 2)).0,
        0
    );
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 2, 2)).0,
        0
    );
    assert_eq!(end_txn(&mut c, 3, "tx", pid, epoch, false).error_code, 0);
    let b = c.batches("t", 0).last().unwrap().clone();
    assert_eq!((b.base_offset, b.control_type()), (4, Some(false)), "ABORT");
    assert_eq!(c.transaction_status("t", 0, 1), Some(TxnStatus::Aborted));
    // Later data is visible again.
    produce_one(&mut c, 1, 9, "t", 0, batch(&BatchSpec::values(1)));
    let p = fetch(&mut c, 0, 1);
    assert_eq!(p.last_stable_offset, 6);
    let aborted = p.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (aborted[0].producer_id.0, aborted[0].first_offset),
        (pid, 0)
    );
    // The batches are returned (the consumer drops them), as Kafka returns them.
    assert_eq!(fetched(&p).0.len(), 5);
    // read_uncommitted lists nothing.
    assert_eq!(fetch(&mut c, 0, 0).aborted_transactions, None);
    let visible: Vec<i64> = c
        .committed_records("t", 0)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(visible, [5]);
    assert_eq!(
        c.transaction("tx").unwrap().state,
        TransactionState::CompleteAbort
    );
    assert_eq!(c.stats().transactions_aborted, 1);
}

#[test]
fn invalid_transitions_are_invalid_txn_state() {
    for tv in [1, 2] {
        let mut c = txn_cluster(1, tv);
        let (pid, epoch) = init_ok(&mut c, "tx");
        // Commit with nothing added.
        assert_eq!(
            end_txn(&mut c, 5, "tx", pid, epoch, true).error_code,
            codes::INVALID_TXN_STATE,
            "tv{tv}"
        );
        assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0]), [0]);
        let r = end_txn(&mut c, 5, "tx", pid, epoch, false);
        assert_eq!(r.error_code, 0);
        // Commit after an abort (v1: same epoch; v2: the new one).
        assert_eq!(
            end_txn(&mut c, 5, "tx", pid, r.producer_epoch, true).error_code,
            codes::INVALID_TXN_STATE,
            "tv{tv}"
        );
        // Unknown transactional id.
        assert_eq!(
            end_txn(&mut c, 5, "nope", pid, 0, true).error_code,
            codes::INVALID_PRODUCER_ID_MAPPING
        );
    }
    // An empty transaction cannot be aborted with version 1, can with version 2.
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(
        end_txn(&mut c, 4, "tx", pid, epoch, false).error_code,
        codes::INVALID_TXN_STATE
    );
    let mut c = txn_cluster(1, 2);
    let (pid, epoch) = init_ok(&mut c, "tx");
    let r = end_txn(&mut c, 5, "tx", pid, epoch, false);
    assert_eq!((r.error_code, r.producer_epoch), (0, epoch + 1));
}

#[test]
fn version_1_needs_added_partitions_version_2_adds_them() {
    // Version 1: a partition not added is refused, as Kafka's verification answers.
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 0, 1)).0,
        codes::INVALID_TXN_STATE
    );
    assert_eq!(
        produce_txn(&mut c, 11, "tx", 0, txn_batch(pid, epoch, 0, 1)).0,
        codes::TRANSACTION_ABORTABLE
    );
    // Produce v12 on a version 1 cluster is only verified.
    assert_eq!(
        produce_txn(&mut c, 12, "tx", 0, txn_batch(pid, epoch, 0, 1)).0,
        codes::TRANSACTION_ABORTABLE
    );
    assert_eq!(c.high_watermark("t", 0), 0);

    // Version 2: Produce v12 adds the partition, EndTxn v5 bumps the epoch every time.
    let mut c = txn_cluster(1, 2);
    let (pid, mut epoch) = init_ok(&mut c, "tx");
    // Before v12 the partition still has to be added.
    assert_eq!(
        produce_txn(&mut c, 11, "tx", 0, txn_batch(pid, epoch, 0, 1)).0,
        codes::TRANSACTION_ABORTABLE
    );
    for round in 0..3 {
        assert_eq!(
            produce_txn(&mut c, 12, "tx", 0, txn_batch(pid, epoch, 0, 2)).0,
            0,
            "round {round}"
        );
        assert_eq!(
            produce_txn(&mut c, 12, "tx", 1, txn_batch(pid, epoch, 0, 1)).0,
            0
        );
        assert_eq!(
            c.transaction("tx").unwrap().partitions,
            [("t".to_string(), 0), ("t".to_string(), 1)]
        );
        let commit = round != 1;
        let r = end_txn(&mut c, 5, "tx", pid, epoch, commit);
        assert_eq!(r.error_code, 0);
        assert_eq!((r.producer_id.0, r.producer_epoch), (pid, epoch + 1));
        // Markers carry the new epoch.
        let b = c.batches("t", 0).last().unwrap().clone();
        assert_eq!(
            (b.producer_epoch, b.control_type()),
            (epoch + 1, Some(commit))
        );
        // A retry with the old epoch is answered with the new one.
        let again = end_txn(&mut c, 5, "tx", pid, epoch, commit);
        assert_eq!((again.error_code, again.producer_epoch), (0, epoch + 1));
        // The old epoch is fenced for data now.
        assert_eq!(
            produce_txn(&mut c, 12, "tx", 0, txn_batch(pid, epoch, 2, 1)).0,
            codes::INVALID_PRODUCER_EPOCH
        );
        epoch += 1;
    }
    assert_eq!(c.stats().transactions_committed, 2);
    assert_eq!(c.stats().transactions_aborted, 1);
    // Rounds 0 and 2 visible, round 1 aborted.
    let values = c.committed_records("t", 0).unwrap().len();
    assert_eq!(values, 4);
}

#[test]
fn init_aborts_an_ongoing_transaction() {
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0]), [0]);
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 0, 2)).0,
        0
    );
    // A new instance: the ongoing transaction is aborted under epoch + 1 and the client told
    // to retry; the retry gets epoch + 2.
    let r = init(&mut c, 1, "tx");
    assert_eq!(r.error_code, codes::CONCURRENT_TRANSACTIONS);
    let b = c.batches("t", 0).last().unwrap().clone();
    assert_eq!(
        (b.control_type(), b.producer_epoch),
        (Some(false), epoch + 1)
    );
    assert_eq!(c.last_stable_offset("t", 0), 3);
    assert_eq!(init_ok(&mut c, "tx"), (pid, epoch + 2));
    // The zombie is fenced by the partition too.
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 2, 1)).0,
        codes::INVALID_PRODUCER_EPOCH
    );
    assert!(c.committed_records("t", 0).unwrap().is_empty());
}

fn offset_commit(c: &mut MockCluster, version: i16, pid: i64, epoch: i16, offset: i64) -> Vec<i16> {
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(tid("tx"))
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset),
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(9)
                    .with_committed_offset(offset),
            ])]);
    call(c, 1, version, &req).topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

#[test]
fn transactional_offsets_are_visible_only_after_commit() {
    // Version 1: AddOffsetsToTxn first.
    let mut c = txn_cluster(1, 1);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(
        offset_commit(&mut c, 3, pid, epoch, 10),
        [codes::INVALID_TXN_STATE, codes::UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        offset_commit(&mut c, 4, pid, epoch, 10)[0],
        codes::TRANSACTION_ABORTABLE
    );
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id(tid("tx"))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(StrBytes::from_static_str("g")));
    assert_eq!(call(&mut c, 1, 3, &add).error_code, 0);
    assert_eq!(c.transaction("tx").unwrap().groups, ["g"]);
    assert_eq!(offset_commit(&mut c, 3, pid, epoch, 10)[0], 0);
    assert_eq!(
        offset_commit(&mut c, 3, pid, epoch + 1, 10)[0],
        codes::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        c.committed_offset("g", "t", 0),
        None,
        "not before the commit"
    );
    assert_eq!(end_txn(&mut c, 3, "tx", pid, epoch, true).error_code, 0);
    assert_eq!(c.committed_offset("g", "t", 0), Some(10));
    // Aborted offsets are dropped.
    assert_eq!(call(&mut c, 1, 3, &add).error_code, 0);
    assert_eq!(offset_commit(&mut c, 3, pid, epoch, 20)[0], 0);
    assert_eq!(end_txn(&mut c, 3, "tx", pid, epoch, false).error_code, 0);
    assert_eq!(c.committed_offset("g", "t", 0), Some(10));
    // A fenced AddOffsetsToTxn: INVALID_PRODUCER_EPOCH before v2, PRODUCER_FENCED from v2.
    let stale = add.with_producer_epoch(epoch + 5);
    assert_eq!(
        call(&mut c, 1, 1, &stale).error_code,
        codes::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        call(&mut c, 1, 2, &stale).error_code,
        codes::PRODUCER_FENCED
    );

    // Version 2: TxnOffsetCommit v5 adds the group itself.
    let mut c = txn_cluster(1, 2);
    let (pid, epoch) = init_ok(&mut c, "tx");
    assert_eq!(offset_commit(&mut c, 5, pid, epoch, 7)[0], 0);
    assert_eq!(
        c.transaction("tx").unwrap().state,
        TransactionState::Ongoing
    );
    assert_eq!(c.committed_offset("g", "t", 0), None);
    assert_eq!(end_txn(&mut c, 5, "tx", pid, epoch, true).error_code, 0);
    assert_eq!(c.committed_offset("g", "t", 0), Some(7));
}

#[test]
fn last_stable_offset_follows_the_oldest_open_transaction() {
    let mut c = txn_cluster(1, 2);
    let (a, ea) = init_ok(&mut c, "a");
    let (b, eb) = init_ok(&mut c, "b");
    produce_one(&mut c, 1, 9, "t", 0, batch(&BatchSpec::values(1))); // 0
    assert_eq!(produce_txn(&mut c, 12, "a", 0, txn_batch(a, ea, 0, 2)).1, 1); // 1..=2
    assert_eq!(produce_txn(&mut c, 12, "b", 0, txn_batch(b, eb, 0, 2)).1, 3); // 3..=4
    assert_eq!(list_latest(&mut c, 1), 1);
    assert_eq!(end_txn(&mut c, 5, "b", b, eb, false).error_code, 0); // marker 5
    assert_eq!(list_latest(&mut c, 1), 1, "a is still open");
    // read_committed stops at the LSO: nothing of a, b, or the marker.
    let p = fetch(&mut c, 0, 1);
    assert_eq!(fetched(&p).0.len(), 1);
    assert_eq!(
        p.aborted_transactions,
        Some(vec![]),
        "nothing aborted below the LSO"
    );
    assert_eq!(end_txn(&mut c, 5, "a", a, ea, true).error_code, 0); // marker 6
    assert_eq!(list_latest(&mut c, 1), 7);
    assert_eq!(list_latest(&mut c, 0), 7);
    let p = fetch(&mut c, 0, 1);
    let aborted = p.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (b, 3));
    let visible: Vec<i64> = c
        .committed_records("t", 0)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(visible, [0, 1, 2]);
}

#[test]
fn add_partitions_v4_batches_transactions_and_verifies() {
    let mut c = txn_cluster(1, 2);
    let (pid, epoch) = init_ok(&mut c, "tx");
    let topic = |parts: Vec<i32>| {
        vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(parts)]
    };
    let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tid("tx"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_topics(topic(vec![0])),
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tid("ghost"))
            .with_producer_id(ProducerId(99))
            .with_producer_epoch(0)
            .with_topics(topic(vec![0])),
    ]);
    let resp = call(&mut c, 1, 5, &req);
    assert_eq!(resp.error_code, 0);
    let codes_of = |r: &AddPartitionsToTxnResponse| -> Vec<(String, Vec<i16>)> {
        r.results_by_transaction
            .iter()
            .map(|t| {
                (
                    t.transactional_id.0.to_string(),
                    t.topic_results[0]
                        .results_by_partition
                        .iter()
                        .map(|p| p.partition_error_code)
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        codes_of(&resp),
        [
            ("tx".to_string(), vec![0]),
            (
                "ghost".to_string(),
                vec![codes::INVALID_PRODUCER_ID_MAPPING]
            )
        ]
    );
    let verify = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(tid("tx"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(true)
            .with_topics(topic(vec![0, 1])),
    ]);
    let resp = call(&mut c, 1, 4, &verify);
    assert_eq!(
        codes_of(&resp),
        [("tx".to_string(), vec![0, codes::TRANSACTION_ABORTABLE])]
    );
    assert_eq!(
        c.transaction("tx").unwrap().partitions,
        [("t".to_string(), 0)],
        "verification adds nothing"
    );
    // Unknown partitions: UNKNOWN_TOPIC_OR_PARTITION, the others not attempted.
    let (pid2, e2) = init_ok(&mut c, "tx2");
    assert_eq!(
        add_partitions(&mut c, 3, "tx2", pid2, e2, &[0, 7]),
        [
            codes::OPERATION_NOT_ATTEMPTED,
            codes::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert!(c.transaction("tx2").unwrap().partitions.is_empty());
}

#[test]
fn transaction_apis_go_through_faults_and_api_versions() {
    let mut c = txn_cluster(1, 2);
    let (pid, epoch) = init_ok(&mut c, "tx");
    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
            Schedule::Next(1),
        )
        .api(END_TXN),
    );
    c.add_fault(
        FaultRule::new(
            FaultAction::Error(codes::NOT_COORDINATOR),
            Schedule::Next(1),
        )
        .api(ADD_PARTITIONS),
    );
    assert_eq!(
        add_partitions(&mut c, 3, "tx", pid, epoch, &[0]),
        [codes::NOT_COORDINATOR]
    );
    assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0]), [0]);
    assert_eq!(
        end_txn(&mut c, 5, "tx", pid, epoch, true).error_code,
        codes::COORDINATOR_NOT_AVAILABLE
    );
    assert_eq!(c.stats().faults_fired, 2);
    assert_eq!(
        c.stats().markers_written,
        0,
        "the faulted EndTxn did nothing"
    );
    assert_eq!(end_txn(&mut c, 5, "tx", pid, epoch, true).error_code, 0);
    assert_eq!(c.stats().requests_of(END_TXN), 2);

    // ApiVersions lists the APIs and the finalized transaction.version.
    for tv in [1, 2] {
        let mut c = txn_cluster(1, tv);
        let resp = call(
            &mut c,
            1,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("t"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        );
        for (key, max) in [(24, 5), (25, 4), (26, 5), (28, 5)] {
            let a = resp.api_keys.iter().find(|a| a.api_key == key).unwrap();
            assert_eq!((a.min_version, a.max_version), (0, max), "api {key}");
        }
        let f = &resp.finalized_features;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name.as_str(), "transaction.version");
        assert_eq!((f[0].min_version_level, f[0].max_version_level), (tv, tv));
        assert_eq!(resp.supported_features[0].max_version, 2);
    }
}

#[test]
fn hostile_or_truncated_transaction_requests_close_the_connection() {
    use kproducer_mock::Outcome;
    let mut c = txn_cluster(1, 2);
    let closed = |o: Outcome| {
        matches!(
            o,
            Outcome::Close {
                processed: false,
                ..
            }
        )
    };
    // AddPartitionsToTxn v2 whose topic array claims i32::MAX entries.
    let req = AddPartitionsToTxnRequest::default().with_v3_and_below_transactional_id(tid("tx"));
    let mut f = frame(2, 1, &req).to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(closed(c.handle_request(1, &f, 0)));
    // TxnOffsetCommit v2 likewise.
    let req = TxnOffsetCommitRequest::default().with_transactional_id(tid("tx"));
    let mut f = frame(2, 1, &req).to_vec();
    let n = f.len();
    f[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(closed(c.handle_request(1, &f, 0)));
    // Truncated EndTxn and AddOffsetsToTxn.
    let f = frame(
        3,
        1,
        &EndTxnRequest::default().with_transactional_id(tid("tx")),
    );
    assert!(closed(c.handle_request(1, &f[..f.len() - 3], 0)));
    let f = frame(3, 1, &AddOffsetsToTxnRequest::default());
    assert!(closed(c.handle_request(1, &f[..f.len() - 1], 0)));
    assert_eq!(c.stats().malformed_requests, 4);
    assert!(c.transaction("tx").is_none());
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let mut c = txn_cluster(1, 1);
    let r = call(
        &mut c,
        1,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(tid("tx")))
            .with_transaction_timeout_ms(5_000),
    );
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    // The transaction starts at t = 1000 (the helpers' clock).
    assert_eq!(add_partitions(&mut c, 3, "tx", pid, epoch, &[0]), [0]);
    assert_eq!(
        produce_txn(&mut c, 9, "tx", 0, txn_batch(pid, epoch, 0, 1)).0,
        0
    );
    // Any request at its deadline leaves it alone...
    call_at(&mut c, 1, 1, &MetadataRequest::default(), 6_000);
    assert_eq!(
        c.transaction("tx").unwrap().state,
        TransactionState::Ongoing
    );
    // ...one after it aborts it under a fenced epoch.
    call_at(&mut c, 1, 1, &MetadataRequest::default(), 6_001);
    let info = c.transaction("tx").unwrap();
    assert_eq!(
        (info.state, info.producer_epoch),
        (TransactionState::CompleteAbort, epoch + 1)
    );
    assert_eq!(c.transaction_status("t", 0, 0), Some(TxnStatus::Aborted));
    assert_eq!(c.last_stable_offset("t", 0), 2);
    let stats = c.stats();
    assert_eq!(
        (stats.transactions_aborted, stats.transactions_timed_out),
        (1, 1)
    );
    let r = call_at(
        &mut c,
        1,
        3,
        &EndTxnRequest::default()
            .with_transactional_id(tid("tx"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(true),
        6_002,
    );
    assert_eq!(r.error_code, codes::PRODUCER_FENCED);
}
