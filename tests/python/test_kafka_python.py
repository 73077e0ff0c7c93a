"""kafka-python against StrikeMQ, record by record."""

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError


def consume_all(bootstrap, topic, partitions, count):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=10000)
    tps = [TopicPartition(topic, p) for p in partitions]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out = []
    for m in c:
        out.append(m)
        if len(out) == count:
            break
    c.close()
    assert len(out) == count
    return out


def test_produce_and_consume_with_headers_and_keys(broker, topic):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    ts0 = 1_690_000_000_000
    futures = []
    for i in range(60):
        futures.append(p.send(topic, partition=i % 3,
                              key=None if i == 0 else b"k%d" % i,
                              value=None if i == 1 else b"v%d" % i,
                              headers=[("i", b"%d" % i)],
                              timestamp_ms=ts0 + i))
    p.flush()
    metas = [f.get(timeout=10) for f in futures]
    assert [m.offset for m in metas] == [i // 3 for i in range(60)]
    got = consume_all(broker.bootstrap, topic, [0, 1, 2], 60)
    by_ts = {m.timestamp: m for m in got}
    for i in range(60):
        m = by_ts[ts0 + i]
        assert m.partition == i % 3
        assert m.offset == i // 3
        assert m.key == (None if i == 0 else b"k%d" % i)
        assert m.value == (None if i == 1 else b"v%d" % i)
        assert m.headers == [("i", b"%d" % i)]
    p.close()
    admin.close()


def test_gzip_and_offsets_api(broker, topic):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type="gzip", linger_ms=20)
    ts0 = 1_600_000_000_000
    for i in range(500):
        p.send(topic, value=b"g%d" % i, timestamp_ms=ts0 + i * 10)
    p.flush()
    p.close()
    got = consume_all(broker.bootstrap, topic, [0], 500)
    assert [m.value for m in got] == [b"g%d" % i for i in range(500)]
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    tp = TopicPartition(topic, 0)
    assert c.beginning_offsets([tp])[tp] == 0
    assert c.end_offsets([tp])[tp] == 500
    found = c.offsets_for_times({tp: ts0 + 2505})
    assert found[tp].offset == 251
    c.close()


def test_admin_create_and_delete(broker, topic):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    assert topic in admin.list_topics()
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        raise AssertionError("expected TopicAlreadyExistsError")
    except TopicAlreadyExistsError:
        pass
    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    try:
        admin.delete_topics([topic])
        raise AssertionError("expected UnknownTopicOrPartitionError")
    except UnknownTopicOrPartitionError:
        pass
    admin.close()
