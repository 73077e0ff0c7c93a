"""Client helpers shared by the tests."""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap, name, partitions=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    fs[name].result(10)


def produce_all(bootstrap, topic, messages, **conf):
    """messages: dicts with value/key/headers/partition/timestamp. Returns delivery reports in order."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg))

    for m in messages:
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery, **m)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(60) == 0, "messages left undelivered"
    errors = [e for e, _ in reports if e is not None]
    assert not errors, errors[:5]
    return [m for _, m in reports]


def consume(bootstrap, topic, partitions, count, start_offset=0, timeout=60, **conf):
    """Reads `count` messages from the given partitions with assign() (no group)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "unused-" + topic,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **conf,
    })
    c.assign([TopicPartition(topic, p, start_offset) for p in partitions])
    out = []
    deadline = time.time() + timeout
    while len(out) < count and time.time() < deadline:
        for m in c.consume(num_messages=1000, timeout=0.5):
            if m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            out.append(m)
    c.close()
    assert len(out) == count, f"got {len(out)} of {count} messages"
    return out
