//! Produce: appends, per-partition errors, a full disk.

use strikemq_codec::messages::*;
use strikemq_codec::ResponseError;

use crate::testutil::*;
use crate::Outcome;

#[test]
fn produce_then_fetch_record_by_record() {
    let t = broker();
    create(&t, "t", 1);
    assert_eq!(produce_code(&t, "t", batch(&["a", "b"], 10), 1), (0, 0));
    assert_eq!(produce_code(&t, "t", batch(&["c"], 20), -1), (0, 2));
    let p = &fetch_partition(&t.broker, "t", 1);
    assert_eq!(
        (p.error_code, p.high_watermark, p.log_start_offset),
        (0, 3, 0)
    );
    let mut values = Vec::new();
    for b in strikemq_codec::batch::batches(p.records.as_ref().unwrap()) {
        for rec in strikemq_codec::batch::decode_records(&b.unwrap()).unwrap() {
            values.push((rec.offset, rec.value.unwrap()));
        }
    }
    assert_eq!(
        values,
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
}

#[test]
fn produce_errors_per_partition() {
    let t = broker();
    create(&t, "t", 1);
    let unknown = produce_code(&t, "missing", batch(&["a"], 0), 1);
    assert_eq!(unknown, (ResponseError::UnknownTopicOrPartition.code(), -1));
    let mut corrupt = batch(&["a"], 0).to_vec();
    let n = corrupt.len();
    corrupt[n - 1] ^= 1;
    assert_eq!(
        produce_code(&t, "t", corrupt.into(), 1).0,
        ResponseError::CorruptMessage.code()
    );
    let mut two = batch(&["a"], 0).to_vec();
    two.extend_from_slice(&batch(&["b"], 0));
    assert_eq!(
        produce_code(&t, "t", two.into(), 1).0,
        ResponseError::InvalidRecord.code()
    );
    let big = "x".repeat(2 << 20);
    assert_eq!(
        produce_code(&t, "t", batch(&[&big], 0), 1).0,
        ResponseError::MessageTooLarge.code()
    );
    assert_eq!(
        produce_code(&t, "t", batch(&["a"], 0), 2).0,
        ResponseError::InvalidRequiredAcks.code()
    );
    // Nothing of the above was written.
    assert_eq!(
        t.broker
            .store()
            .topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .log_end_offset(),
        0
    );
    let outcome = call(
        &t.broker,
        ApiKey::Produce,
        9,
        &produce_req("t", 0, batch(&["z"], 0), 0),
    );
    assert!(matches!(outcome, Outcome::NoResponse));
    assert_eq!(
        t.broker
            .store()
            .topic("t")
            .unwrap()
            .partition(0)
            .unwrap()
            .log_end_offset(),
        1
    );
}

#[test]
fn a_full_disk_answers_kafka_storage_error_and_loses_nothing() {
    let disk = std::sync::Arc::new(crate::testutil::FullDisk::default());
    let t = crate::testutil::broker_with(strikemq_storage::StoreConfig {
        log: strikemq_storage::LogConfig {
            files: disk.clone(),
            ..Default::default()
        },
    });
    create(&t, "t", 1);
    assert_eq!(produce_code(&t, "t", batch(&["a", "b"], 0), 1), (0, 0));
    disk.full.store(true, std::sync::atomic::Ordering::SeqCst);
    for acks in [1, -1] {
        let (code, _) = produce_code(&t, "t", batch(&["lost"], 0), acks);
        assert_eq!(code, ResponseError::KafkaStorageError.code());
    }
    disk.full.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(produce_code(&t, "t", batch(&["c"], 0), 1), (0, 2));
    let p = &fetch_partition(&t.broker, "t", 0);
    assert_eq!((p.error_code, p.high_watermark), (0, 3));
    let records = p.records.clone().unwrap();
    let got: Vec<String> = strikemq_codec::batch::batches(&records)
        .flat_map(|b| strikemq_codec::batch::decode_records(&b.unwrap()).unwrap())
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(got, ["a", "b", "c"]);
}
