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


def test_kill_9_under_load_loses_no_acknowledged_record(broker_factory, topic):
    """Two idempotent acks=all producers; the broker (flush=always) is killed with SIGKILL three
    times while they run. Every acknowledged record is there afterwards, once, in order."""
    import random
    import threading
    import time
    from confluent_kafka import Producer
    b = broker_factory("--flush", "always", "--segment-bytes", str(1024 * 1024))
    create_topic(b.bootstrap, topic, 2)
    n = 4000
    acked = [set(), set()]
    done = threading.Event()

    def produce(pid):
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "acks": "all",
                      "linger.ms": 2, "message.timeout.ms": 60000, "reconnect.backoff.ms": 20,
                      "reconnect.backoff.max.ms": 200})

        def cb(err, msg):
            if err is None:
                acked[pid].add(int(msg.value().split(b"-")[1]))

        for i in range(n):
            while True:
                try:
                    p.produce(topic, value=b"p%d-%d" % (pid, i), partition=pid, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            if i % 200 == 0:
                time.sleep(0.01)
        p.flush(90)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    for _ in range(3):
        time.sleep(rng.uniform(0.2, 0.6))
        b.kill()
        b.start()
    for t in threads:
        t.join(120)
    assert all(len(a) > n / 2 for a in acked), [len(a) for a in acked]
    for pid in range(2):
        from confluent_kafka import Consumer, TopicPartition as TP
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "crash-" + topic, "enable.auto.commit": False})
        c.assign([TP(topic, pid, 0)])
        low, high = c.get_watermark_offsets(TP(topic, pid), timeout=10)
        seqs = []
        while len(seqs) < high - low:
            m = c.poll(5)
            assert m is not None and m.error() is None
            seqs.append(int(m.value().split(b"-")[1]))
        c.close()
        assert len(seqs) == len(set(seqs)), "a record was written twice"
        assert seqs == sorted(seqs), "records out of order"
        missing = acked[pid] - set(seqs)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"


def test_a_crash_after_an_interval_flush_recovers_from_the_recovery_point(broker_factory, topic):
    """--flush interval: the flusher leaves a recovery point, and recovery after a crash trusts
    what that fsync covered and validates only what follows. Every acknowledged record is back."""
    import re
    import time
    from pathlib import Path
    b = broker_factory("--flush", "interval", "--flush-interval-ms", "50",
                       "--segment-bytes", str(4 * 1024 * 1024))
    create_topic(b.bootstrap, topic)
    values = [b"i%05d-" % i + b"x" * 1000 for i in range(10000)]  # about 10 MB: a few segments
    produce_all(b.bootstrap, topic, [{"value": v} for v in values], acks="all")
    time.sleep(0.5)  # the flusher runs 50 ms after the last append
    points = list(Path(b.data_dir).rglob("recovery-point"))
    assert len(points) == 1, points
    b.kill()
    b.start()
    got = consume(b.bootstrap, topic, [0], len(values))
    assert [m.offset() for m in got] == list(range(len(values)))
    assert [m.value() for m in got] == values
    recovered = re.findall(r"recovered the last segment.*" + re.escape(topic)
                           + r".*trusted_bytes=(\d+) validated_bytes=(\d+)", b.log_path.read_text())
    assert len(recovered) == 1, recovered
    trusted, validated = map(int, recovered[0])
    assert trusted > 0 and validated == 0, recovered
    reports = produce_all(b.bootstrap, topic, [{"value": b"after"}])
    assert reports[0].offset() == len(values)
