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


def test_topic_configs_create_describe_alter(broker, topic):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                       NewTopic, ResourceType)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "3600000", "cleanup.policy": "compact"})])[topic].result(10)
    with pytest.raises(KafkaException) as e:
        admin.create_topics([NewTopic(topic + "-bad", 1, 1, config={"retention.ms": "soon"})])[topic + "-bad"].result(10)
    assert "retention.ms" in str(e.value)
    with pytest.raises(KafkaException):
        admin.create_topics([NewTopic(topic + "-bad", 1, 1, config={"no.such.config": "1"})])[topic + "-bad"].result(10)
    assert topic + "-bad" not in admin.list_topics(timeout=10).topics

    res = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "compact"
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["message.timestamp.type"].value == "CreateTime"

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
    ])
    admin.incremental_alter_configs([res])[res].result(10)
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    configs = list(configs.values())[0].result(10)
    assert configs["retention.ms"].value == "7200000"
    assert configs["cleanup.policy"].value == "compact,delete"
    bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "-5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException):
        admin.incremental_alter_configs([bad])[bad].result(10)

    broker_res = ConfigResource(ResourceType.BROKER, "0")
    bconf = admin.describe_configs([broker_res])[broker_res].result(10)
    assert bconf["num.partitions"].value == "1" and bconf["num.partitions"].is_read_only


def test_max_message_bytes_per_topic_is_enforced(broker, topic):
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.admin import NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "2000"})])[topic].result(10)
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 100000, "linger.ms": 0})
    errors = []
    p.produce(topic, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)  # its own batch: a batch over the limit is refused whole
    p.produce(topic, value=b"small", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert errors[1] is None


def test_configs_survive_a_restart(broker_factory, topic):
    from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.bytes": "123456"})])[topic].result(10)
    b.restart()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    res = ConfigResource(ResourceType.TOPIC, topic)
    assert admin.describe_configs([res])[res].result(10)["retention.bytes"].value == "123456"


def test_retention_by_time_and_size_moves_the_log_start(broker_factory, topic):
    import time
    from confluent_kafka import Consumer
    from confluent_kafka.admin import NewTopic
    # Retention acts at each check (Kafka's log.retention.check.interval.ms, 5 minutes by default).
    broker = broker_factory("--retention-check-interval-ms", "200")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    mib = 1024 * 1024
    admin.create_topics([
        NewTopic(topic, 1, 1, config={"segment.bytes": str(mib), "retention.ms": "60000"}),
        NewTopic(topic + "-size", 1, 1, config={"segment.bytes": str(mib), "retention.bytes": str(mib)}),
    ])[topic].result(10)
    hour_ago = int(time.time() * 1000) - 3600 * 1000
    value = b"x" * 1000
    # ~3 MiB written an hour "ago" (CreateTime), then one fresh record.
    produce_all(broker.bootstrap, topic, [{"value": value, "timestamp": hour_ago} for _ in range(3000)])
    produce_all(broker.bootstrap, topic, [{"value": b"fresh"}])
    produce_all(broker.bootstrap, topic + "-size", [{"value": value} for _ in range(4000)])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "retention-" + topic})
    deadline = time.time() + 20
    while time.time() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        slow, shigh = c.get_watermark_offsets(TopicPartition(topic + "-size", 0), timeout=10)
        if low > 0 and slow > 0:
            break
        time.sleep(0.1)
    c.close()
    assert high == 3001 and low > 1000, (low, high)
    assert shigh == 4000 and slow >= 4000 - 2 * 1100, (slow, shigh)
    # Consumers starting from the beginning start at the new log start.
    got = consume(broker.bootstrap, topic, [0], high - low, start_offset=-2)
    assert got[0].offset() == low and got[-1].value() == b"fresh"


def test_log_append_time_topics_stamp_records(broker, topic):
    import time
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME
    from confluent_kafka.admin import NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"message.timestamp.type": "LogAppendTime"})])[topic].result(10)
    before = int(time.time() * 1000)
    produce_all(broker.bootstrap, topic, [{"value": b"v%d" % i, "timestamp": 1000 + i} for i in range(5)],
                **{"compression.type": "lz4"})
    after = int(time.time() * 1000)
    got = consume(broker.bootstrap, topic, [0], 5)
    for m in got:
        kind, ts = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after, (kind, ts)
    assert [m.value() for m in got] == [b"v%d" % i for i in range(5)]


def test_compaction_keeps_the_latest_value_per_key(broker, topic):
    import time
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.admin import NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "cleanup.policy": "compact", "segment.bytes": str(1024 * 1024), "delete.retention.ms": "0"})])[topic].result(10)
    pad = "p" * 1000
    # 40 keys updated 50 times (~2 MiB, several segments), then tombstones for keys 0-9.
    messages = [{"key": b"key-%d" % k, "value": b"%d-%s" % (v, pad.encode())} for v in range(50) for k in range(40)]
    produce_all(broker.bootstrap, topic, messages)
    produce_all(broker.bootstrap, topic, [{"key": b"key-%d" % k, "value": None} for k in range(10)])
    # Roll the tombstones into a closed segment too.
    produce_all(broker.bootstrap, topic, [{"key": b"filler", "value": pad.encode()} for _ in range(1100)])
    # Keyless records are refused on a compacted topic.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    errors = []
    p.produce(topic, value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD

    end = 40 * 50 + 10 + 1100

    def read_all():
        from confluent_kafka import Consumer, TopicPartition as TP
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "cmp-" + topic, "enable.auto.commit": False})
        c.assign([TP(topic, 0, 0)])
        latest, count, last = {}, 0, -1
        while last < end - 1:
            m = c.poll(5)
            assert m is not None and m.error() is None
            count += 1
            last = m.offset()
            if m.key() != b"filler":
                latest[m.key()] = (m.offset(), m.value())
        c.close()
        return latest, count

    deadline = time.time() + 30
    latest, count = read_all()
    while count >= end / 2 and time.time() < deadline:
        time.sleep(0.2)
        latest, count = read_all()
    assert count < end / 2, "the cleaner did not run"
    for k in range(10, 40):
        offset, value = latest[b"key-%d" % k]
        assert value.startswith(b"49-") and offset == 49 * 40 + k
    for k in range(10):
        assert b"key-%d" % k not in latest, "tombstoned keys are gone"


def test_kafka_python_describe_and_alter_configs(broker, topic):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic as KNewTopic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([KNewTopic(topic, 1, 1, topic_configs={"retention.ms": "5000"})])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = {c[0]: c[1] for c in described[0].resources[0][4]}
    assert entries["retention.ms"] == "5000" and entries["cleanup.policy"] == "delete"
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "9000"})])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = {c[0]: c[1] for c in described[0].resources[0][4]}
    assert entries["retention.ms"] == "9000"
    admin.close()


def test_expired_records_go_at_the_retention_check_even_from_the_active_segment(broker_factory, topic):
    """As on Kafka: records whose timestamps are older than retention.ms stay readable until the
    next retention check, then go, the active segment included; the end offset stays."""
    import time
    from confluent_kafka import Consumer
    from confluent_kafka.admin import NewTopic
    broker = broker_factory("--retention-check-interval-ms", "8000")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "60000"})])[topic].result(10)
    produce_all(broker.bootstrap, topic, [{"value": b"old%d" % i, "timestamp": 1_600_000_000_000 + i} for i in range(5)])
    # Readable right after being written: the check has not run yet.
    got = consume(broker.bootstrap, topic, [0], 5)
    assert [m.value() for m in got] == [b"old%d" % i for i in range(5)]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "expiry-" + topic})
    deadline = time.time() + 30
    low = high = None
    while time.time() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if low == 5:
            break
        time.sleep(0.2)
    c.close()
    assert (low, high) == (5, 5)
    produce_all(broker.bootstrap, topic, [{"value": b"new"}])
    got = consume(broker.bootstrap, topic, [0], 1, start_offset=-2)
    assert (got[0].offset(), got[0].value()) == (5, b"new")


def wait_low_watermark(bootstrap, topic, want, timeout=30):
    """Polls the log start offset of partition 0 until it reaches `want`; returns (low, high)."""
    import time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks-" + topic})
    deadline = time.time() + timeout
    low = high = None
    while time.time() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if low >= want:
            break
        time.sleep(0.1)
    c.close()
    return low, high


def test_broker_level_retention_flag_applies_to_topics_without_their_own(broker_factory, topic):
    # --retention-ms is log.retention.ms: a topic without retention.ms inherits it. It used to
    # feed only DescribeConfigs of the broker, and a default topic kept everything.
    from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType
    broker = broker_factory("--retention-ms", "60000", "--retention-check-interval-ms", "200")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    res = ConfigResource(ResourceType.TOPIC, topic)
    retention = admin.describe_configs([res])[res].result(10)["retention.ms"]
    assert retention.value == "60000"
    assert retention.source == ConfigSource.STATIC_BROKER_CONFIG.value
    produce_all(broker.bootstrap, topic, [{"value": b"old%d" % i, "timestamp": 1_600_000_000_000 + i} for i in range(5)])
    assert wait_low_watermark(broker.bootstrap, topic, 5) == (5, 5)


def set_cluster_defaults(bootstrap, configs):
    """AlterConfigs on the cluster-wide default broker resource (kafka-python)."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        result = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, "",
                                                     configs={"min.insync.replicas": "1", **configs})])
        assert all(r[0] == 0 for r in result.resources), result
    finally:
        admin.close()


def test_dynamic_broker_configs_apply_to_topics_and_survive_a_restart(broker_factory, topic):
    from confluent_kafka import KafkaError, KafkaException, Producer
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                       NewTopic, ResourceType)
    broker = broker_factory("--retention-check-interval-ms", "200")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1), NewTopic(topic + "-own", 1, 1, config={"retention.ms": "-1"})])[topic].result(10)

    def alter(name, *entries):
        res = ConfigResource(ResourceType.BROKER, name, incremental_configs=[
            ConfigEntry(k, v, incremental_operation=op) for k, v, op in entries])
        admin.incremental_alter_configs([res])[res].result(10)

    def topic_config(t, key):
        res = ConfigResource(ResourceType.TOPIC, t)
        return admin.describe_configs([res])[res].result(10)[key]

    # The cluster-wide default (the empty broker name, which librdkafka cannot name: set with
    # kafka-python's AlterConfigs, which replaces the whole level and so must keep
    # min.insync.replicas, as on Kafka) reaches topics that inherit it.
    set_cluster_defaults(broker.bootstrap, {"log.retention.ms": "60000", "message.max.bytes": "3000"})
    entry = topic_config(topic, "retention.ms")
    assert (entry.value, entry.source) == ("60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert topic_config(topic + "-own", "retention.ms").value == "-1"
    # This broker's own value wins over the cluster default.
    alter("0", ("log.retention.ms", "120000", AlterConfigOpType.SET))
    entry = topic_config(topic, "retention.ms")
    assert (entry.value, entry.source) == ("120000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    res = ConfigResource(ResourceType.BROKER, "0")
    conf = admin.describe_configs([res])[res].result(10)
    assert conf["log.retention.ms"].value == "120000" and not conf["log.retention.ms"].is_read_only
    # It acts: old records go from the inheriting topic only, and big batches are refused.
    old = [{"value": b"old%d" % i, "timestamp": 1_600_000_000_000 + i} for i in range(5)]
    produce_all(broker.bootstrap, topic, old)
    produce_all(broker.bootstrap, topic + "-own", old)
    assert wait_low_watermark(broker.bootstrap, topic, 5) == (5, 5)
    assert wait_low_watermark(broker.bootstrap, topic + "-own", 0, timeout=1)[0] == 0
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    errors = []
    p.produce(topic, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    # Static configs are refused as Kafka refuses them.
    bad = ConfigResource(ResourceType.BROKER, "0", incremental_configs=[
        ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        admin.incremental_alter_configs([bad])[bad].result(10)
    assert "Cannot update these configs dynamically" in str(e.value)
    # Kept across a restart.
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    entry = topic_config(topic, "retention.ms")
    assert (entry.value, entry.source) == ("120000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert topic_config(topic, "max.message.bytes").value == "3000"
    # Deleted, the values fall back to the broker's defaults.
    alter("0", ("log.retention.ms", None, AlterConfigOpType.DELETE))
    set_cluster_defaults(broker.bootstrap, {})
    entry = topic_config(topic, "retention.ms")
    assert (entry.value, entry.source) == ("604800000", ConfigSource.DEFAULT_CONFIG.value)
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    errors = []
    p.produce(topic, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors == [None]


def test_subtracting_the_last_value_of_a_list_config_leaves_it_empty(broker, topic):
    # Kafka 4.1+ accepts an empty list: cleanup.policy with neither policy.
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    admin.incremental_alter_configs([res])[res].result(10)
    res = ConfigResource(ResourceType.TOPIC, topic)
    assert admin.describe_configs([res])[res].result(10)["cleanup.policy"].value == ""
