"""confluent-kafka (librdkafka) against StrikeMQ, record by record."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import consume, create_topic, produce_all


def test_keys_values_headers_nulls_and_timestamps(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=3)
    ts0 = 1_700_000_000_000
    sent = []
    for i in range(90):
        m = {
            "partition": i % 3,
            "key": None if i % 10 == 0 else f"key-{i}".encode(),
            "value": None if i % 15 == 0 else f"value-{i}".encode() * (1 + i % 4),
            "headers": [("n", str(i).encode()), ("dup", b"a"), ("dup", b"b")] if i % 2 else None,
            "timestamp": ts0 + i,
        }
        sent.append(m)
    reports = produce_all(broker.bootstrap, topic, sent)
    assert sorted(r.partition() for r in reports) == sorted(i % 3 for i in range(90))
    got = consume(broker.bootstrap, topic, [0, 1, 2], 90)
    by_ts = {m.timestamp()[1]: m for m in got}
    for i, m in enumerate(sent):
        g = by_ts[ts0 + i]
        assert g.partition() == m["partition"]
        assert g.key() == m["key"]
        assert g.value() == m["value"]
        assert (g.headers() or None) == m["headers"]
        assert g.timestamp() == (1, ts0 + i)  # CreateTime
    # Offsets are dense per partition, in produce order.
    for p in range(3):
        offsets = [m.offset() for m in got if m.partition() == p]
        assert offsets == list(range(30))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches(broker, topic, codec):
    create_topic(broker.bootstrap, topic)
    values = [f"{codec}-{i}-".encode() * 20 for i in range(2000)]
    produce_all(broker.bootstrap, topic, [{"value": v} for v in values],
                **{"compression.type": codec, "batch.num.messages": 500})
    got = consume(broker.bootstrap, topic, [0], len(values))
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(len(values)))


def test_idempotent_producer(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=2)
    values = [f"idem-{i}".encode() for i in range(3000)]
    produce_all(broker.bootstrap, topic, [{"value": v, "partition": i % 2} for i, v in enumerate(values)],
                **{"enable.idempotence": True, "acks": "all"})
    got = consume(broker.bootstrap, topic, [0, 1], len(values))
    for p in range(2):
        assert [m.value() for m in got if m.partition() == p] == values[p::2]


def test_hundred_thousand_messages(broker, topic):
    create_topic(broker.bootstrap, topic)
    n = 100_000
    produce_all(broker.bootstrap, topic, ({"value": b"%08d" % i} for i in range(n)),
                **{"linger.ms": 20, "batch.size": 262144})
    got = consume(broker.bootstrap, topic, [0], n, timeout=120)
    for i, m in enumerate(got):
        assert m.offset() == i
        assert m.value() == b"%08d" % i


def test_consume_from_the_middle_by_offset_and_timestamp(broker, topic):
    create_topic(broker.bootstrap, topic)
    ts0 = 1_650_000_000_000
    produce_all(broker.bootstrap, topic,
                [{"value": b"m%d" % i, "timestamp": ts0 + 1000 * i} for i in range(100)],
                **{"linger.ms": 50})
    got = consume(broker.bootstrap, topic, [0], 30, start_offset=70)
    assert [m.value() for m in got] == [b"m%d" % i for i in range(70, 100)]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ts-" + topic})
    found = c.offsets_for_times([TopicPartition(topic, 0, ts0 + 1000 * 42 - 500)], timeout=10)
    assert found[0].offset == 42
    found = c.offsets_for_times([TopicPartition(topic, 0, ts0 + 10_000_000)], timeout=10)
    assert found[0].offset == -1  # past the end: OFFSET_END
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 100)
    c.close()


def test_several_topics_in_one_producer(broker):
    names = [f"multi-{i}-{time.time_ns()}" for i in range(4)]
    for n in names:
        create_topic(broker.bootstrap, n)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(200):
        p.produce(names[i % 4], value=b"%d" % i)
    assert p.flush(30) == 0
    for t, n in enumerate(names):
        got = consume(broker.bootstrap, n, [0], 50)
        assert [m.value() for m in got] == [b"%d" % i for i in range(t, 200, 4)]


def test_admin_create_list_delete(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(10)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[topic].partitions) == 3
    with pytest.raises(KafkaException) as e:
        admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    with pytest.raises(KafkaException) as e:
        admin.create_topics([NewTopic(topic + "-rf", num_partitions=1, replication_factor=3)])[topic + "-rf"].result(10)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR
    with pytest.raises(KafkaException) as e:
        admin.create_topics([NewTopic("bad/name", num_partitions=1)])["bad/name"].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION
    admin.delete_topics([topic])[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics
    with pytest.raises(KafkaException) as e:
        admin.delete_topics([topic])[topic].result(10)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_no_auto_create_reports_unknown_topic(broker_factory, topic):
    b = broker_factory("--no-auto-create-topics")
    p = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 3000})
    errors = []
    p.produce(topic, value=b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT)
    assert topic not in AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics


def test_auto_create_with_default_partitions(broker_factory, topic):
    b = broker_factory("--default-partitions", "4")
    produce_all(b.bootstrap, topic, [{"value": b"v%d" % i} for i in range(40)])
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10)
    assert len(md.topics[topic].partitions) == 4
    got = consume(b.bootstrap, topic, [0, 1, 2, 3], 40)
    assert sorted(m.value() for m in got) == sorted(b"v%d" % i for i in range(40))


def test_fetch_answers_stay_within_the_consumers_limits(broker, topic):
    # A consumer that accepts answers of at most receive.message.max.bytes, reading partitions
    # of 900 KiB records: KIP-74 lets only the first partition with data exceed
    # fetch.max.bytes. Answers of two whole batches (1.8 MB) used to be refused by librdkafka
    # ("Invalid response size") and retried until it gave up.
    create_topic(broker.bootstrap, topic, partitions=3)
    big = b"x" * (900 * 1024)
    produce_all(broker.bootstrap, topic,
                [{"value": big, "key": b"%d-%d" % (p, i), "partition": p} for p in range(3) for i in range(2)],
                **{"message.max.bytes": 1_000_000})
    got = consume(broker.bootstrap, topic, [0, 1, 2], 6, timeout=30,
                  **{"fetch.max.bytes": 1_000_000, "receive.message.max.bytes": 1_000_512})
    assert sorted(m.key() for m in got) == sorted(b"%d-%d" % (p, i) for p in range(3) for i in range(2))
    assert all(m.value() == big for m in got)
