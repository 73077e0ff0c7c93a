"""Admin APIs with real clients: partitions, records deletion, cluster description."""

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from helpers import consume, create_topic, produce_all


def test_confluent_create_partitions_delete_records_describe_cluster(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create_topic(broker.bootstrap, topic, 2)
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5
    with pytest.raises(Exception):
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    # The new partitions take records.
    produce_all(broker.bootstrap, topic, [{"value": b"p%d" % p, "partition": p} for p in range(5)])
    got = consume(broker.bootstrap, topic, [4], 1)
    assert got[0].value() == b"p4"

    produce_all(broker.bootstrap, topic, [{"value": b"r%d" % i, "partition": 0} for i in range(20)])
    result = admin.delete_records([TopicPartition(topic, 0, 15)])
    deleted = list(result.values())[0].result(10)
    assert deleted.low_watermark == 15
    got = consume(broker.bootstrap, topic, [0], 6, start_offset=-2)  # OFFSET_BEGINNING
    assert [m.offset() for m in got] == list(range(15, 21))

    cluster = admin.describe_cluster().result(10)
    assert len(cluster.nodes) == 1 and cluster.nodes[0].port == broker.port
    assert cluster.controller.id == 0 and len(cluster.cluster_id) == 22


def test_kafka_python_admin_partitions_and_records(broker, topic):
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.admin import KafkaAdminClient, NewPartitions as KNewPartitions
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1)
    admin.create_partitions({topic: KNewPartitions(total_count=3)})
    assert len(admin.describe_topics([topic])[0]["partitions"]) == 3
    produce_all(broker.bootstrap, topic, [{"value": b"x", "partition": 0} for _ in range(10)])
    res = admin.delete_records({KTP(topic, 0): 7})
    assert list(res.values())[0]["low_watermark"] == 7
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    tp = KTP(topic, 0)
    assert c.beginning_offsets([tp])[tp] == 7
    c.close()
    admin.close()
