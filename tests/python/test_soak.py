"""A bounded soak: idempotent producers and two consumer groups on 12 partitions for about a minute,
with a clean broker restart and a kill -9 in the middle. At the end every record in the log was
consumed exactly once by each group (counting a record as consumed only once its offset commit
succeeded), every acknowledged record is in the log, and the broker's descriptors and memory did
not grow while the load went on."""

import os
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from helpers import create_topic

PARTITIONS = 12
PRODUCERS = 3
PER_PRODUCER = 5000
GROUPS = 2
MEMBERS = 2


def broker_figures(b):
    pid = b.proc.pid
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return fds, rss


def test_soak_with_restarts_consumes_everything_exactly_once_per_group(broker_factory, topic):
    b = broker_factory("--segment-bytes", str(256 * 1024))
    create_topic(b.bootstrap, topic, PARTITIONS)
    acked = set()
    acked_lock = threading.Lock()
    consumed = {g: [] for g in range(GROUPS)}
    consumed_lock = threading.Lock()
    producing = threading.Event()
    stop = threading.Event()
    errors = []

    def produce(pid):
        try:
            p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "acks": "all",
                          "linger.ms": 5, "message.timeout.ms": 120000, "reconnect.backoff.ms": 20,
                          "reconnect.backoff.max.ms": 250})

            def cb(err, msg):
                if err is None:
                    with acked_lock:
                        acked.add(msg.value())

            for i in range(PER_PRODUCER):
                value = b"p%d-%05d" % (pid, i)
                while True:
                    try:
                        p.produce(topic, key=b"k%d" % (i % 97), value=value, on_delivery=cb)
                        break
                    except BufferError:
                        p.poll(0.05)
                p.poll(0)
                if i % 100 == 99:
                    time.sleep(0.1)
            assert p.flush(150) == 0, "records left undelivered"
        except Exception as e:  # reported by the main thread
            errors.append(e)

    def committed_through(c, ends):
        for _ in range(120):
            try:
                now = c.committed([TopicPartition(topic, p) for p in ends], timeout=5)
                return {tp.partition for tp in now if tp.error is None and tp.offset >= ends[tp.partition]}
            except KafkaException:
                time.sleep(0.25)
        raise AssertionError("committed offsets stayed unreadable")

    def consume(group, member):
        try:
            c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"soak-{group}-{topic}",
                          "client.id": f"g{group}m{member}", "enable.auto.commit": False,
                          "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                          "heartbeat.interval.ms": 500, "reconnect.backoff.ms": 20,
                          "reconnect.backoff.max.ms": 250})
            c.subscribe([topic])
            while not stop.is_set():
                msgs = [m for m in c.consume(500, 0.5) if m.error() is None]
                if not msgs:
                    continue
                firsts, ends = {}, {}
                for m in msgs:
                    firsts.setdefault(m.partition(), m.offset())
                    ends[m.partition()] = m.offset() + 1
                try:
                    result = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in ends.items()],
                                      asynchronous=False)
                    ok = {tp.partition for tp in result if tp.error is None}
                except KafkaException:
                    # The broker went away mid-commit: the commit may or may not have been
                    # written. Ask what is committed now.
                    ok = committed_through(c, ends)
                with consumed_lock:
                    consumed[group].extend(m.value() for m in msgs if m.partition() in ok)
                for p in set(ends) - ok:
                    try:  # read them again (if the partition is still ours)
                        c.seek(TopicPartition(topic, p, firsts[p]))
                    except KafkaException:
                        pass
            c.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=consume, args=(g, m)) for g in range(GROUPS) for m in range(MEMBERS)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for t in threads:
        t.start()
    producers = threads[GROUPS * MEMBERS:]

    time.sleep(12)
    b.restart()  # clean stop and start on the same port
    time.sleep(12)
    b.kill()  # a crash
    b.start()
    time.sleep(8)
    mid = broker_figures(b)
    for t in producers:
        t.join(180)
    assert not errors, errors

    # Everything in the log, read back without a group.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "soak-check-" + topic,
                  "enable.auto.commit": False})
    in_log = []
    for p in range(PARTITIONS):
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        c.assign([TopicPartition(topic, p, low)])
        got = 0
        while got < high - low:
            m = c.poll(5)
            assert m is not None and m.error() is None, m and m.error()
            in_log.append(m.value())
            got += 1
    c.close()
    assert len(in_log) == len(set(in_log)), "a record was written twice"
    assert acked <= set(in_log), f"{len(acked - set(in_log))} acknowledged records are missing"
    assert len(acked) == PRODUCERS * PER_PRODUCER

    deadline = time.time() + 90
    while time.time() < deadline:
        with consumed_lock:
            if all(len(consumed[g]) >= len(in_log) for g in range(GROUPS)):
                break
        time.sleep(0.5)
    end = broker_figures(b)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for g in range(GROUPS):
        seen = consumed[g]
        assert len(seen) == len(set(seen)), f"group {g} consumed {len(seen) - len(set(seen))} records twice"
        assert set(seen) == set(in_log), f"group {g}: {len(set(in_log) - set(seen))} records never consumed"
    # Load held steady since the last restart: no descriptor or memory growth worth the name.
    assert end[0] <= mid[0] + 16, f"descriptors grew from {mid[0]} to {end[0]}"
    assert end[1] <= mid[1] * 2 + 16 * 1024, f"RSS grew from {mid[1]} KiB to {end[1]} KiB"


def test_creating_and_deleting_topics_leaks_no_descriptors(broker_factory, topic):
    from confluent_kafka.admin import AdminClient, NewTopic
    from helpers import produce_all
    b = broker_factory()
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    before = None
    for round in range(4):
        names = [f"{topic}-{round}-{i}" for i in range(25)]
        for f in a.create_topics([NewTopic(n, 4, 1) for n in names]).values():
            f.result(15)
        for n in names:
            produce_all(b.bootstrap, n, [{"value": b"x", "partition": p} for p in range(4)])
        for f in a.delete_topics(names).values():
            f.result(15)
        time.sleep(0.5)
        if round == 0:
            before = broker_figures(b)[0]
    after = broker_figures(b)[0]
    assert after <= before + 4, f"descriptors went from {before} to {after} over three rounds of 100 partitions"
