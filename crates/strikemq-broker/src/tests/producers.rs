//! InitProducerId: ids unique across restarts, a damaged id file.

use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::testutil::*;

#[test]
fn producer_ids_are_unique_and_never_reused() {
    let t = broker();
    let init = |req: InitProducerIdRequest| {
        let ResponseKind::InitProducerId(r) =
            response(call(&t.broker, ApiKey::InitProducerId, 4, &req))
        else {
            panic!()
        };
        (r.error_code, r.producer_id.0, r.producer_epoch)
    };
    let fresh = || {
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_timeout_ms(60000)
    };
    let a = init(fresh());
    let b = init(fresh());
    assert_eq!(a.0, 0);
    assert_ne!(a.1, b.1);
    // As from Kafka, an idempotent producer naming the id it had gets a new one at epoch 0.
    let again = init(
        fresh()
            .with_producer_id(ProducerId(a.1))
            .with_producer_epoch(0),
    );
    assert_eq!(again.0, 0);
    assert!(
        again.1 != a.1 && again.1 != b.1 && again.2 == 0,
        "{again:?}"
    );
    // An empty (not null) transactional id is refused, as by Kafka.
    let empty = init(fresh().with_transactional_id(Some(Default::default())));
    assert_eq!(empty, (ResponseError::InvalidRequest.code(), -1, -1));
    // An idempotent producer's transaction timeout is not looked at.
    assert_eq!(init(fresh().with_transaction_timeout_ms(900_001)).0, 0);
    // A transactional producer: the timeout first (0 < timeout <= 15 min), then an id from the
    // transaction coordinator, whose epoch moves on at each InitProducerId.
    let txn = |timeout| {
        init(
            fresh()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))))
                .with_transaction_timeout_ms(timeout),
        )
    };
    let invalid = (ResponseError::InvalidTransactionTimeout.code(), -1, -1);
    assert_eq!(txn(900_001), invalid);
    assert_eq!(txn(0), invalid);
    let (error, pid, epoch) = txn(900_000);
    assert_eq!((error, epoch), (0, 0));
    assert_eq!(txn(60_000), (0, pid, 1));
}

/// A damaged producer-id file stops the broker at start instead of restarting ids at 0, where a
/// new producer could take the id of one whose sequence numbers the logs still hold.
#[test]
fn a_damaged_producer_id_file_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
        let b = crate::Broker::new(crate::BrokerConfig::default(), store).unwrap();
        call(
            &b,
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        );
    }
    std::fs::write(dir.path().join("meta/producer_ids"), "12x").unwrap();
    let store = strikemq_storage::Store::open(dir.path(), Default::default()).unwrap();
    match crate::Broker::new(crate::BrokerConfig::default(), store) {
        Err(strikemq_storage::StorageError::CorruptMetadata { path, .. }) => {
            assert!(path.ends_with("meta/producer_ids"), "{path:?}")
        }
        other => panic!("a damaged producer id file was accepted: {other:?}"),
    }
}

/// A fresh broker on `dir` and the producer id its first InitProducerId hands out.
fn first_id_after_start(dir: &std::path::Path) -> i64 {
    let store = strikemq_storage::Store::open(dir, Default::default()).unwrap();
    let b = crate::Broker::new(crate::BrokerConfig::default(), store).unwrap();
    let ResponseKind::InitProducerId(r) = response(call(
        &b,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )) else {
        panic!()
    };
    r.producer_id.0
}

#[test]
fn producer_ids_never_repeat_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = first_id_after_start(dir.path());
    let second = first_id_after_start(dir.path());
    assert!(second > first, "{second} after {first}");
}
