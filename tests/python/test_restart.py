"""Data survives clean restarts and crashes (kill -9) of the broker."""

from helpers import consume, create_topic, produce_all


def test_clean_restart_keeps_everything(broker_factory, topic):
    b = broker_factory("--segment-bytes", "65536")
    create_topic(b.bootstrap, topic, partitions=3)
    values = [b"r%05d" % i for i in range(6000)]
    produce_all(b.bootstrap, topic, [{"value": v, "partition": i % 3} for i, v in enumerate(values)])
    assert b.restart().proc is not None
    got = consume(b.bootstrap, topic, [0, 1, 2], len(values))
    for p in range(3):
        assert [m.value() for m in got if m.partition() == p] == values[p::3]
    # New writes continue the offsets.
    reports = produce_all(b.bootstrap, topic, [{"value": b"after", "partition": 0}])
    assert reports[0].offset() == 2000


def test_crash_keeps_acknowledged_records(broker_factory, topic):
    b = broker_factory("--segment-bytes", "65536")
    create_topic(b.bootstrap, topic)
    values = [b"c%05d" % i for i in range(3000)]
    produce_all(b.bootstrap, topic, [{"value": v} for v in values], acks="all")
    b.kill()
    b.start()
    got = consume(b.bootstrap, topic, [0], len(values))
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(len(values)))


def test_idempotent_producer_keeps_going_across_a_broker_restart(broker_factory, topic):
    from confluent_kafka import Producer
    b = broker_factory()
    create_topic(b.bootstrap, topic)
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                  "message.timeout.ms": 60000, "reconnect.backoff.ms": 50})
    errors = []
    cb = lambda err, msg: errors.append(err) if err else None
    for i in range(500):
        p.produce(topic, value=b"before-%d" % i, on_delivery=cb)
    assert p.flush(30) == 0
    b.restart()
    # The same producer (same id, sequences continuing) talks to the restarted broker, which
    # rebuilt its producer state from the log.
    for i in range(500):
        p.produce(topic, value=b"after-%d" % i, on_delivery=cb)
    assert p.flush(60) == 0
    assert errors == []
    got = consume(b.bootstrap, topic, [0], 1000)
    assert [m.value() for m in got] == [b"before-%d" % i for i in range(500)] + [b"after-%d" % i for i in range(500)]
