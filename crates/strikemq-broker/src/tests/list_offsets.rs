//! ListOffsets: by kind and by timestamp.

use strikemq_codec::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use strikemq_codec::messages::*;

use crate::testutil::*;

#[test]
fn list_offsets_by_kind_and_timestamp() {
    let t = broker();
    create(&t, "t", 1);
    produce_code(&t, "t", batch(&["a", "b", "c"], 1000), 1);
    produce_code(&t, "t", batch(&["d", "e"], 2000), 1);
    let ask = |ts: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(ts)
                ])]);
        let ResponseKind::ListOffsets(r) = response(call(&t.broker, ApiKey::ListOffsets, 7, &req))
        else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(-2), (0, 0, -1));
    assert_eq!(ask(-1), (0, 5, -1));
    assert_eq!(ask(-3), (0, 4, 2001));
    assert_eq!(ask(1001), (0, 1, 1001));
    assert_eq!(ask(1500), (0, 3, 2000));
    assert_eq!(ask(9999), (0, -1, -1));
}
