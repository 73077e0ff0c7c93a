//! Helpers shared by the unit tests.

use bytes::Bytes;
use strikemq_batch::{BatchBuilder, NewRecord};

/// A batch of `n` records with values `"{tag}-{i}"` and timestamps `ts0 + i`.
pub(crate) fn batch(tag: &str, n: usize, ts0: i64) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in 0..n {
        b = b.record(NewRecord {
            timestamp: ts0 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{tag}-{i}"))),
            headers: vec![],
        });
    }
    b.build()
}

/// Every record value in a record set, with its offset.
pub(crate) fn values(records: &[u8]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in strikemq_batch::batches(records) {
        for r in strikemq_batch::decode_records(&b.unwrap()).unwrap() {
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}
