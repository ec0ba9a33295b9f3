//! The state machine on its own, in virtual time: every answer scripted, like Java's
//! `TransactionManagerTest`.

use super::*;

const NONE: i16 = 0;

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from(t),
        partition: p,
    }
}

fn manager() -> TransactionManager {
    TransactionManager::new(
        "tid".into(),
        Duration::from_secs(60),
        Duration::from_millis(100),
    )
}

fn coordinator(m: &mut TransactionManager, now: Instant) {
    let (req, target) = m.poll_request(0, now).expect("FindCoordinator");
    assert!(
        matches!(req, TxnRequest::FindCoordinator { key_type: CoordinatorType::Transaction, ref key } if key == "tid")
    );
    assert_eq!(target, Target::Any);
    m.handle_response(
        TxnResponse::FindCoordinator {
            error: NONE,
            message: None,
            node_id: 2,
            host: "h".into(),
            port: 9,
        },
        now,
    );
}

fn pid_answer(id: i64, epoch: i16) -> TxnResponse {
    TxnResponse::InitProducerId {
        error: NONE,
        producer_id: id,
        epoch,
    }
}

/// Initialised, in a transaction, on protocol `tv`.
fn ready(tv: i16, now: Instant) -> TransactionManager {
    let mut m = manager();
    m.set_transaction_version(tv);
    let r = m.init().unwrap();
    coordinator(&mut m, now);
    let (req, target) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::InitProducerId { bump: false });
    assert_eq!(target, Target::Node(2, Arc::from("h:9")));
    let effect = m.handle_response(pid_answer(7, 0), now);
    assert_eq!(effect.new_pid, Some(ProducerIdAndEpoch { id: 7, epoch: 0 }));
    assert_eq!(r.outcome(), Some(Ok(())));
    assert_eq!(m.state(), S::Ready);
    m
}

#[test]
fn init_follows_the_coordinator_when_it_moves() {
    let now = Instant::now();
    let mut m = manager();
    let r = m.init().unwrap();
    coordinator(&mut m, now);
    m.poll_request(0, now).unwrap();
    m.handle_response(
        TxnResponse::InitProducerId {
            error: ErrorCode::NOT_COORDINATOR.0,
            producer_id: -1,
            epoch: -1,
        },
        now,
    );
    // Looked up again first, then retried after the backoff.
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::FindCoordinator { .. }));
    m.handle_response(
        TxnResponse::FindCoordinator {
            error: NONE,
            message: None,
            node_id: 3,
            host: "h3".into(),
            port: 9,
        },
        now,
    );
    assert!(m.poll_request(0, now).is_none(), "backing off");
    let later = now + Duration::from_millis(100);
    let (req, target) = m.poll_request(0, later).unwrap();
    assert_eq!(req, TxnRequest::InitProducerId { bump: false });
    assert_eq!(target, Target::Node(3, Arc::from("h3:9")));
    m.handle_response(pid_answer(1, 0), later);
    assert_eq!(r.outcome(), Some(Ok(())));
}

#[test]
fn v1_adds_partitions_before_their_batches_and_ends_after_them() {
    let now = Instant::now();
    let mut m = ready(1, now);
    m.begin().unwrap();
    m.note_appended("t", 0, false);
    assert!(!m.may_send(&tp("t", 0)), "not in the transaction yet");
    assert!(!m.may_send(&tp("t", 1)));
    let (req, _) = m.poll_request(1, now).unwrap();
    assert_eq!(
        req,
        TxnRequest::AddPartitions {
            partitions: vec![tp("t", 0), tp("t", 1)]
        }
    );
    // The first AddPartitions of a transaction meets the previous one's markers.
    m.handle_response(
        TxnResponse::AddPartitions {
            error: NONE,
            results: vec![
                (tp("t", 0), ErrorCode::CONCURRENT_TRANSACTIONS.0),
                (tp("t", 1), NONE),
            ],
        },
        now,
    );
    assert!(m.poll_request(1, now).is_none());
    let t = now + ADD_PARTITIONS_RETRY_BACKOFF;
    m.poll_request(1, t)
        .expect("retried after 20 ms, not retry.backoff.ms");
    m.handle_response(
        TxnResponse::AddPartitions {
            error: NONE,
            results: vec![(tp("t", 0), NONE), (tp("t", 1), NONE)],
        },
        t,
    );
    assert!(m.may_send(&tp("t", 0)) && m.may_send(&tp("t", 1)));
    let commit = m.begin_commit().unwrap();
    assert!(
        m.poll_request(3, t).is_none(),
        "EndTxn waits for the batches"
    );
    // A coordinator error between AddPartitions and EndTxn: looked up and retried.
    let (req, _) = m.poll_request(0, t).unwrap();
    assert_eq!(req, TxnRequest::EndTxn { commit: true });
    m.handle_response(
        TxnResponse::EndTxn {
            error: ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
            producer_id: -1,
            epoch: -1,
        },
        t,
    );
    assert!(commit.outcome().is_none());
    let (req, _) = m.poll_request(0, t).unwrap();
    assert!(matches!(req, TxnRequest::FindCoordinator { .. }));
    m.handle_response(
        TxnResponse::FindCoordinator {
            error: NONE,
            message: None,
            node_id: 2,
            host: "h".into(),
            port: 9,
        },
        t,
    );
    let t2 = t + Duration::from_millis(100);
    let (req, _) = m.poll_request(0, t2).unwrap();
    assert_eq!(req, TxnRequest::EndTxn { commit: true });
    let effect = m.handle_response(
        TxnResponse::EndTxn {
            error: NONE,
            producer_id: -1,
            epoch: -1,
        },
        t2,
    );
    assert_eq!(effect.new_pid, None, "v1 keeps the epoch");
    assert_eq!(commit.outcome(), Some(Ok(())));
    assert_eq!(m.state(), S::Ready);
    assert!(
        !m.may_send(&tp("t", 0)),
        "a new transaction adds its partitions again"
    );
}

/// v1: a partition's first batch in the transaction queues AddPartitionsToTxn at once (Java adds
/// at send), so it overlaps the batch's linger; later batches of it add nothing more.
#[test]
fn v1_adds_a_partition_when_its_first_batch_opens() {
    let now = Instant::now();
    let mut m = ready(1, now);
    m.begin().unwrap();
    m.note_appended("t", 3, true);
    m.note_appended("t", 3, false);
    let (req, _) = m
        .poll_request(1, now)
        .expect("AddPartitions before any batch is ready");
    assert_eq!(
        req,
        TxnRequest::AddPartitions {
            partitions: vec![tp("t", 3)]
        }
    );
    assert!(
        !m.may_send(&tp("t", 3)),
        "not until the coordinator said so"
    );
    m.note_appended("t", 3, true); // pending: not queued twice
    m.handle_response(
        TxnResponse::AddPartitions {
            error: NONE,
            results: vec![(tp("t", 3), NONE)],
        },
        now,
    );
    assert!(m.may_send(&tp("t", 3)));
    m.note_appended("t", 3, true); // added: nothing to do
    assert!(m.poll_request(1, now).is_none(), "no second AddPartitions");
    // Transaction version 2 never asks (Produce v12 adds the partition).
    let mut m = ready(2, now);
    m.begin().unwrap();
    m.note_appended("t", 3, true);
    assert!(m.poll_request(1, now).is_none());
}

#[test]
fn v2_takes_the_new_epoch_from_end_txn() {
    let now = Instant::now();
    let mut m = ready(2, now);
    m.begin().unwrap();
    assert!(m.may_send(&tp("t", 0)), "Produce v12 adds the partition");
    m.note_appended("t", 0, false);
    let r = m.begin_commit().unwrap();
    let (req, _) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::EndTxn { commit: true });
    let effect = m.handle_response(
        TxnResponse::EndTxn {
            error: NONE,
            producer_id: 7,
            epoch: 1,
        },
        now,
    );
    assert_eq!(effect.new_pid, Some(ProducerIdAndEpoch { id: 7, epoch: 1 }));
    assert_eq!(r.outcome(), Some(Ok(())));
}

#[test]
fn a_failed_record_makes_the_commit_abortable_then_abort_bumps_in_v1() {
    let now = Instant::now();
    let mut m = ready(1, now);
    m.begin().unwrap();
    m.note_appended("t", 0, false);
    assert!(!m.may_send(&tp("t", 0)));
    m.poll_request(1, now).unwrap();
    m.handle_response(
        TxnResponse::AddPartitions {
            error: NONE,
            results: vec![(tp("t", 0), NONE)],
        },
        now,
    );
    m.batch_failed(&ProduceError::Broker {
        topic: "t".into(),
        partition: 0,
        code: ErrorCode::MESSAGE_TOO_LARGE,
        message: None,
    });
    assert_eq!(m.state(), S::AbortableError);
    assert!(m.undrained_batch_error().is_some(), "queued batches fail");
    let e = m.begin_commit().unwrap_err();
    assert!(e.is_abortable(), "{e}");
    assert!(m.check_send().unwrap_err().is_abortable());
    let abort = m.begin_abort().unwrap();
    let (req, _) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::EndTxn { commit: false });
    m.handle_response(
        TxnResponse::EndTxn {
            error: NONE,
            producer_id: -1,
            epoch: -1,
        },
        now,
    );
    assert_eq!(
        m.state(),
        S::Initializing,
        "v1: the epoch is bumped before the next one"
    );
    let (req, _) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::InitProducerId { bump: true });
    let effect = m.handle_response(pid_answer(7, 1), now);
    assert_eq!(effect.new_pid, Some(ProducerIdAndEpoch { id: 7, epoch: 1 }));
    assert_eq!(abort.outcome(), Some(Ok(())));
    assert_eq!(m.state(), S::Ready);
    m.begin().unwrap();
}

#[test]
fn fenced_is_fatal_and_sticks() {
    let now = Instant::now();
    let mut m = ready(2, now);
    m.begin().unwrap();
    m.note_appended("t", 0, false);
    let r = m.begin_commit().unwrap();
    m.poll_request(0, now).unwrap();
    m.handle_response(
        TxnResponse::EndTxn {
            error: ErrorCode::PRODUCER_FENCED.0,
            producer_id: -1,
            epoch: -1,
        },
        now,
    );
    let e = r.outcome().unwrap().unwrap_err();
    assert!(matches!(e, TransactionError::Fenced { .. }), "{e}");
    assert_eq!(m.state(), S::FatalError);
    assert!(m.begin().unwrap_err().is_fatal());
    assert!(m.begin_abort().unwrap_err().is_fatal());
    assert!(m.check_send().unwrap_err().is_fatal());
}

#[test]
fn a_timed_out_call_is_retried_and_others_wait_for_it() {
    let now = Instant::now();
    let mut m = manager();
    let a = m.init().unwrap();
    let b = m.init().unwrap();
    assert!(Arc::ptr_eq(&a, &b), "the same pending result");
    let e = m.begin().unwrap_err();
    assert!(
        matches!(
            e,
            TransactionError::PendingOperation {
                pending: "initTransactions",
                ..
            }
        ),
        "{e}"
    );
    coordinator(&mut m, now);
    m.poll_request(0, now).unwrap();
    m.handle_response(pid_answer(1, 0), now);
    m.begin().unwrap();
}

#[test]
fn offsets_v1_add_the_group_then_commit_them_at_its_coordinator() {
    let now = Instant::now();
    let mut m = ready(1, now);
    m.begin().unwrap();
    let g = ConsumerGroupMetadata::new("g");
    let r = m
        .send_offsets(vec![(tp("in", 0), OffsetAndMetadata::new(5))], g.clone())
        .unwrap();
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::AddOffsets { .. }));
    m.handle_response(TxnResponse::AddOffsets { error: NONE }, now);
    // The group's coordinator is looked up first.
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(
        matches!(req, TxnRequest::FindCoordinator { key_type: CoordinatorType::Group, ref key } if key == "g")
    );
    m.handle_response(
        TxnResponse::FindCoordinator {
            error: NONE,
            message: None,
            node_id: 4,
            host: "g".into(),
            port: 1,
        },
        now,
    );
    let (req, target) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::TxnOffsetCommit { .. }));
    assert_eq!(target, Target::Node(4, Arc::from("g:1")));
    m.handle_response(
        TxnResponse::TxnOffsetCommit {
            results: vec![(tp("in", 0), ErrorCode::ILLEGAL_GENERATION.0)],
        },
        now,
    );
    assert!(r.outcome().unwrap().unwrap_err().is_abortable());
    assert_eq!(m.state(), S::AbortableError);
}

/// Only the head of the queue says when to wake: a TxnOffsetCommit already due behind the
/// group's FindCoordinator, backing off after COORDINATOR_NOT_AVAILABLE, must not ask for a
/// wake-up in the past (the driver would spin until the FindCoordinator's backoff ends).
#[test]
fn the_wakeup_is_the_backoff_of_the_request_sent_next() {
    let now = Instant::now();
    let ms = |n: u64| now + Duration::from_millis(n);
    let mut m = ready(2, now);
    m.begin().unwrap();
    let g = ConsumerGroupMetadata::new("g");
    let r = m
        .send_offsets(vec![(tp("in", 0), OffsetAndMetadata::new(5))], g)
        .unwrap();
    let find_group = TxnResponse::FindCoordinator {
        error: NONE,
        message: None,
        node_id: 4,
        host: "g".into(),
        port: 1,
    };
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::FindCoordinator { .. }));
    m.handle_response(find_group.clone(), now);
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::TxnOffsetCommit { .. }));
    // The group moved: looked up again now, the offsets retried after the backoff (100 ms).
    m.handle_response(
        TxnResponse::TxnOffsetCommit {
            results: vec![(tp("in", 0), ErrorCode::NOT_COORDINATOR.0)],
        },
        now,
    );
    let (req, _) = m.poll_request(0, now).unwrap();
    assert!(matches!(req, TxnRequest::FindCoordinator { .. }));
    // The lookup backs off too, from 90 ms: until 190 ms, past the offsets' 100 ms.
    m.handle_response(
        TxnResponse::FindCoordinator {
            error: ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
            message: None,
            node_id: -1,
            host: String::new(),
            port: -1,
        },
        ms(90),
    );
    assert_eq!(m.next_wakeup(ms(90)), Some(ms(190)));
    assert!(m.poll_request(0, ms(150)).is_none(), "the lookup backs off");
    assert_eq!(
        m.next_wakeup(ms(150)),
        Some(ms(190)),
        "not the offsets' 100 ms, already past"
    );
    let (req, _) = m.poll_request(0, ms(190)).unwrap();
    assert!(matches!(req, TxnRequest::FindCoordinator { .. }));
    m.handle_response(find_group, ms(190));
    let (req, target) = m.poll_request(0, ms(190)).unwrap();
    assert!(matches!(req, TxnRequest::TxnOffsetCommit { .. }));
    assert_eq!(target, Target::Node(4, Arc::from("g:1")));
    m.handle_response(
        TxnResponse::TxnOffsetCommit {
            results: vec![(tp("in", 0), NONE)],
        },
        ms(190),
    );
    assert_eq!(r.outcome(), Some(Ok(())));
    assert_eq!(m.next_wakeup(ms(190)), None);
}

/// v1: a batch with a sequence that fails while the abort waits for it still gets the epoch
/// bumped after the abort, and the abort's caller waits for the bump (else the next
/// transaction's batches could not be drained on the old epoch).
#[test]
fn v1_a_sequence_lost_during_the_abort_bumps_the_epoch_after_it() {
    let now = Instant::now();
    let mut m = ready(1, now);
    m.begin().unwrap();
    m.note_appended("t", 0, false);
    assert!(!m.may_send(&tp("t", 0)));
    m.poll_request(1, now).unwrap();
    m.handle_response(
        TxnResponse::AddPartitions {
            error: NONE,
            results: vec![(tp("t", 0), NONE)],
        },
        now,
    );
    let r = m.begin_abort().unwrap();
    // A batch of the transaction is still in flight: EndTxn waits. It fails for good, and
    // the idempotent sequences ask for a new epoch.
    assert!(m.poll_request(1, now).is_none());
    m.request_epoch_bump();
    let (req, _) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::EndTxn { commit: false });
    m.handle_response(
        TxnResponse::EndTxn {
            error: NONE,
            producer_id: -1,
            epoch: -1,
        },
        now,
    );
    assert_eq!(r.outcome(), None, "the abort waits for the bump");
    assert_eq!(m.state(), S::Initializing);
    let (req, _) = m.poll_request(0, now).unwrap();
    assert_eq!(req, TxnRequest::InitProducerId { bump: true });
    let effect = m.handle_response(pid_answer(7, 1), now);
    assert_eq!(effect.new_pid, Some(ProducerIdAndEpoch { id: 7, epoch: 1 }));
    assert_eq!(r.outcome(), Some(Ok(())));
    assert_eq!(m.state(), S::Ready);
    m.begin().unwrap();
}
