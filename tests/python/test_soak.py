"""A bounded soak: idempotent producers and two consumer groups on 12 partitions, with clean broker
restarts and kill -9 crashes while the producers are still sending. At the end every record in the
log was consumed exactly once by each group (counting a record as consumed only once its offset
commit succeeded), every acknowledged record is in the log exactly once, and the broker's
descriptors and anonymous memory did not grow while the load went on.

CI runs it for about 40 s of producing with one restart and one crash. The environment makes it
longer (docs/RELIABILITY.md has the figures of a long run):
  SOAK_SECONDS   how long the producers send (default 40)
  SOAK_RATE      records per second per producer (default 250)
  SOAK_FAULTS    restarts spread evenly over the sending, alternately clean and kill -9 (default 2)
Each second the broker's descriptors and memory are sampled; with STRIKEMQ_TEST_RESULTS set the
curves go to soak.json there."""

import json
import os
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from helpers import create_topic

PARTITIONS = 12
PRODUCERS = 3
GROUPS = 2
MEMBERS = 2
SECONDS = float(os.environ.get("SOAK_SECONDS", "40"))
RATE = int(os.environ.get("SOAK_RATE", "250"))
FAULTS = int(os.environ.get("SOAK_FAULTS", "2"))
PER_PRODUCER = int(SECONDS * RATE)
# Commit errors that the broker answered with: the commit was not written.
REFUSED = {KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS,
           KafkaError.FENCED_INSTANCE_ID}


def broker_figures(b):
    """(descriptors, VmRSS KiB, RssAnon KiB) of the broker process."""
    pid = b.proc.pid
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return fds, int(status["VmRSS"][0]), int(status["RssAnon"][0])


def test_soak_with_restarts_consumes_everything_exactly_once_per_group(broker_factory, topic):
    b = broker_factory("--segment-bytes", str(256 * 1024))
    create_topic(b.bootstrap, topic, PARTITIONS)
    acked = set()
    acked_lock = threading.Lock()
    consumed = {g: [] for g in range(GROUPS)}
    maybe = {g: [] for g in range(GROUPS)}  # read, and a commit of unknown outcome covers them
    consumed_lock = threading.Lock()
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

            started = time.monotonic()
            for i in range(PER_PRODUCER):
                value = b"p%d-%05d" % (pid, i)
                while True:
                    try:
                        p.produce(topic, key=b"k%d" % (i % 97), value=value, on_delivery=cb)
                        break
                    except BufferError:
                        p.poll(0.05)
                p.poll(0)
                if i % 50 == 49:  # keep to RATE records per second
                    ahead = started + (i + 1) / RATE - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
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
                unsure = set()
                try:
                    result = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in ends.items()],
                                      asynchronous=False)
                    ok = {tp.partition for tp in result if tp.error is None}
                except KafkaException as e:
                    if e.args[0].code() in REFUSED:
                        # The broker answered: nothing was written (after a restart the group
                        # forgets its members, who must join again).
                        ok = set()
                    else:
                        # The broker went away mid-commit: the commit may or may not have been
                        # written. Ask what is committed now; if it is written, these records
                        # count as unsure: the offset may also be another member's commit after
                        # it read them again.
                        unsure = ok = committed_through(c, ends)
                with consumed_lock:
                    consumed[group].extend(m.value() for m in msgs if m.partition() in ok - unsure)
                    maybe[group].extend(m.value() for m in msgs if m.partition() in unsure)
                for p in set(ends) - ok:
                    try:  # read them again (if the partition is still ours)
                        c.seek(TopicPartition(topic, p, firsts[p]))
                    except KafkaException:
                        pass
            c.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=consume, args=(g, m), daemon=True) for g in range(GROUPS) for m in range(MEMBERS)]
    threads += [threading.Thread(target=produce, args=(p,), daemon=True) for p in range(PRODUCERS)]
    for t in threads:
        t.start()
    producers = threads[GROUPS * MEMBERS:]

    curve = []  # (seconds since start, descriptors, RSS KiB, anonymous RSS KiB, event)
    t0 = time.monotonic()
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            try:
                curve.append((round(time.monotonic() - t0, 1), *broker_figures(b), ""))
            except (FileNotFoundError, ProcessLookupError, AttributeError, KeyError):
                pass  # between a stop and a start
            sampling.wait(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for n in range(1, FAULTS + 1):
        time.sleep(max(0.0, t0 + n * SECONDS / (FAULTS + 1) - time.monotonic()))
        if n % 2:
            b.restart()  # clean stop and start on the same port
            event = "restart"
        else:
            b.kill()  # a crash
            b.start()
            event = "kill -9"
        curve.append((round(time.monotonic() - t0, 1), *broker_figures(b), event))
    time.sleep(8)
    mid = broker_figures(b)
    for t in producers:
        t.join(SECONDS * 2 + 180)
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
            if all(len(set(consumed[g]) | set(maybe[g])) >= len(in_log) for g in range(GROUPS)):
                break
        time.sleep(0.5)
    end = broker_figures(b)
    sampling.set()
    sampler.join()
    stop.set()
    for t in threads:
        t.join(60)
    if os.environ.get("STRIKEMQ_TEST_RESULTS"):
        report = {"seconds": SECONDS, "rate_per_producer": RATE, "producers": PRODUCERS,
                  "partitions": PARTITIONS, "groups": GROUPS, "members": MEMBERS, "faults": FAULTS,
                  "records": len(in_log), "acknowledged": len(acked),
                  "consumed": {g: len(consumed[g]) for g in range(GROUPS)},
                  "unsure": {g: len(set(maybe[g]) - set(consumed[g])) for g in range(GROUPS)},
                  "curve": [dict(zip(("t", "fds", "rss_kib", "anon_kib", "event"), row)) for row in curve]}
        with open(os.path.join(os.environ["STRIKEMQ_TEST_RESULTS"], "soak.json"), "w") as f:
            json.dump(report, f, indent=1)
    assert not errors, errors
    for g in range(GROUPS):
        seen = consumed[g]
        assert len(seen) == len(set(seen)), f"group {g} consumed {len(seen) - len(set(seen))} records twice"
        everything = set(seen) | set(maybe[g])
        assert everything == set(in_log), f"group {g}: {len(set(in_log) - everything)} records never consumed"
        # Only the few batches whose commit met a crash may be unsure.
        assert len(set(maybe[g]) - set(seen)) <= len(in_log) // 20, f"group {g}: {len(maybe[g])} unsure"
    # Load held steady since the last restart: no descriptor or anonymous memory growth worth the
    # name (mapped log pages count in RSS too, and grow with the data; they are the page cache).
    assert end[0] <= mid[0] + 16, f"descriptors grew from {mid[0]} to {end[0]}"
    assert end[2] <= mid[2] * 2 + 16 * 1024, f"anonymous RSS grew from {mid[2]} KiB to {end[2]} KiB"


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
