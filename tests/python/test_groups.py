"""Consumer groups with real clients: partitions split, rebalances, session timeouts, committed
offsets across restarts, cooperative and static membership, and the admin APIs."""

import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from helpers import create_topic, produce_all

SESSION_MS = 6000


def group_consumer(bootstrap, group, **conf):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 500,
        **conf,
    })


def poll_all(consumers, until, timeout=30):
    """Polls every consumer until `until(received)` holds; received[i] lists (partition, offset, value)."""
    received = [[] for _ in consumers]
    deadline = time.time() + timeout
    while time.time() < deadline and not until(received):
        for i, c in enumerate(consumers):
            m = c.poll(0.05)
            if m is not None:
                assert m.error() is None, m.error()
                received[i].append((m.partition(), m.offset(), m.value()))
    assert until(received), f"timed out; got {[len(r) for r in received]}"
    return received


def assigned(c):
    return sorted(tp.partition for tp in c.assignment())


def wait_for(cond, timeout=30, consumers=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in consumers:
            c.poll(0.05)
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def fill(bootstrap, topic, partitions=6, per_partition=50):
    create_topic(bootstrap, topic, partitions)
    produce_all(bootstrap, topic, [
        {"value": b"%d-%d" % (p, i), "partition": p}
        for p in range(partitions) for i in range(per_partition)
    ])


def test_members_share_partitions_and_consume_everything_once(broker, topic):
    create_topic(broker.bootstrap, topic, 6)
    group = "g-" + topic
    cs = [group_consumer(broker.bootstrap, group) for _ in range(3)]
    for c in cs:
        c.subscribe([topic])
    # Settle first: records read before a rebalance and not committed are read again by the
    # partition's next owner (at-least-once, on Kafka as here).
    wait_for(lambda: all(len(assigned(c)) == 2 for c in cs), consumers=cs)
    parts = [assigned(c) for c in cs]
    assert sorted(p for ps in parts for p in ps) == list(range(6)), parts
    produce_all(broker.bootstrap, topic, [{"value": b"%d-%d" % (p, i), "partition": p}
                                          for p in range(6) for i in range(50)])
    got = poll_all(cs, lambda r: sum(map(len, r)) >= 300)
    values = sorted(v for r in got for (_, _, v) in r)
    assert values == sorted(b"%d-%d" % (p, i) for p in range(6) for i in range(50))
    for i, c in enumerate(cs):
        assert {p for p, _, _ in got[i]} == set(parts[i])
    for c in cs:
        c.close()


def test_a_leaving_member_hands_its_partitions_over(broker, topic):
    fill(broker.bootstrap, topic, per_partition=1)
    group = "g-" + topic
    a, b = group_consumer(broker.bootstrap, group), group_consumer(broker.bootstrap, group)
    a.subscribe([topic])
    b.subscribe([topic])
    wait_for(lambda: len(assigned(a)) == 3 and len(assigned(b)) == 3, consumers=[a, b])
    b.close()  # sends LeaveGroup
    wait_for(lambda: assigned(a) == list(range(6)), consumers=[a], timeout=SESSION_MS / 1000)
    a.close()


KILLED_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": %d, "heartbeat.interval.ms": 500})
c.subscribe([sys.argv[3]])
deadline = time.time() + 60
while time.time() < deadline:
    c.poll(0.1)
    if c.assignment():
        print("assigned", flush=True)
        break
time.sleep(600)
""" % SESSION_MS


def test_a_killed_member_loses_its_partitions_after_the_session_timeout(broker, topic):
    fill(broker.bootstrap, topic, per_partition=1)
    group = "g-" + topic
    a = group_consumer(broker.bootstrap, group)
    a.subscribe([topic])
    wait_for(lambda: assigned(a) == list(range(6)), consumers=[a])
    child = subprocess.Popen([sys.executable, "-c", KILLED_MEMBER, broker.bootstrap, group, topic],
                             stdout=subprocess.PIPE, text=True)
    try:
        # The child joins, a rebalance gives it half the partitions.
        wait_for(lambda: len(assigned(a)) == 3, consumers=[a])
        child.kill()  # no LeaveGroup
        child.wait()
        started = time.time()
        wait_for(lambda: assigned(a) == list(range(6)), consumers=[a], timeout=30)
        # Not before the session timeout ran out (minus the child's last heartbeat interval).
        assert time.time() - started > SESSION_MS / 1000 - 1.5
    finally:
        child.kill()
        a.close()


def test_committed_offsets_survive_a_broker_restart(broker_factory, topic):
    b = broker_factory()
    fill(b.bootstrap, topic, partitions=3, per_partition=100)
    group = "g-" + topic
    c = group_consumer(b.bootstrap, group, **{"enable.auto.commit": False})
    c.subscribe([topic])
    got = poll_all([c], lambda r: len(r[0]) >= 150)[0]
    # Commit exactly what was read so far, per partition.
    last = {}
    for p, o, _ in got:
        last[p] = max(last.get(p, -1), o)
    c.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()], asynchronous=False)
    c.close()
    b.restart()
    c = group_consumer(b.bootstrap, group, **{"enable.auto.commit": False})
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    assert {tp.partition: tp.offset for tp in committed} == {p: last.get(p, -1) + 1 if p in last else -1001 for p in range(3)}
    c.subscribe([topic])
    rest = poll_all([c], lambda r: len(r[0]) >= 300 - len(got))[0]
    seen = sorted((p, o) for p, o, _ in got + rest)
    assert seen == [(p, o) for p in range(3) for o in range(100)], "lost or repeated records"
    c.close()


def test_members_keep_their_partitions_across_a_broker_restart(broker_factory, topic):
    """The group's membership is persisted with the committed offsets: after the broker restarts,
    the members' heartbeats are accepted at the same generation and nobody rejoins (no revoke, no
    new assignment), as with Kafka's coordinator failover."""
    b = broker_factory()
    create_topic(b.bootstrap, topic, 4)
    group = "g-" + topic
    events = []
    members = []
    for name in ("a", "b"):
        c = group_consumer(b.bootstrap, group, **{"reconnect.backoff.ms": 50,
                                                   "reconnect.backoff.max.ms": 200})
        c.subscribe([topic], on_assign=lambda c, ps, n=name: events.append(("assign", n)),
                    on_revoke=lambda c, ps, n=name: events.append(("revoke", n)))
        members.append(c)
    a, c2 = members
    wait_for(lambda: len(assigned(a)) == 2 and len(assigned(c2)) == 2, consumers=members)
    before = (assigned(a), assigned(c2))
    produce_all(b.bootstrap, topic, [{"value": b"before-%d" % p, "partition": p} for p in range(4)])
    got = poll_all(members, lambda r: sum(map(len, r)) >= 4)
    assert sorted(v for r in got for (_, _, v) in r) == [b"before-%d" % p for p in range(4)]
    events.clear()
    b.restart()
    # Several heartbeat intervals against the restarted broker.
    deadline = time.time() + 3
    while time.time() < deadline:
        for c in members:
            c.poll(0.05)
    produce_all(b.bootstrap, topic, [{"value": b"after-%d" % p, "partition": p} for p in range(4)])
    got = poll_all(members, lambda r: sum(map(len, r)) >= 4)
    assert sorted(v for r in got for (_, _, v) in r) == [b"after-%d" % p for p in range(4)]
    assert events == [], f"a member rejoined after the restart: {events}"
    assert (assigned(a), assigned(c2)) == before
    for c in members:
        c.close()


def test_cooperative_sticky_rebalance(broker, topic):
    create_topic(broker.bootstrap, topic, 6)
    group = "g-" + topic
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    a = group_consumer(broker.bootstrap, group, **conf)
    a.subscribe([topic])
    wait_for(lambda: assigned(a) == list(range(6)), consumers=[a])
    before = set(assigned(a))
    b = group_consumer(broker.bootstrap, group, **conf)
    b.subscribe([topic])
    wait_for(lambda: len(assigned(a)) == 3 and len(assigned(b)) == 3, consumers=[a, b])
    # Sticky: a kept partitions it had, b got the others, nothing owned twice.
    assert set(assigned(a)) <= before
    assert not set(assigned(a)) & set(assigned(b))
    produce_all(broker.bootstrap, topic, [{"value": b"%d-%d" % (p, i), "partition": p}
                                          for p in range(6) for i in range(10)])
    got = poll_all([a, b], lambda r: sum(map(len, r)) >= 60)
    assert sorted(v for r in got for (_, _, v) in r) == sorted(b"%d-%d" % (p, i) for p in range(6) for i in range(10))
    for i, c in enumerate((a, b)):
        assert {p for p, _, _ in got[i]} == set(assigned(c))
    a.close()
    b.close()


def test_static_member_restart_does_not_rebalance(broker, topic):
    fill(broker.bootstrap, topic, per_partition=1)
    group = "g-" + topic
    events = []
    other = group_consumer(broker.bootstrap, group)
    other.subscribe([topic], on_assign=lambda c, ps: events.append("assign"),
                    on_revoke=lambda c, ps: events.append("revoke"))
    static_conf = {"group.instance.id": "instance-1", "session.timeout.ms": 30000}
    s = group_consumer(broker.bootstrap, group, **static_conf)
    s.subscribe([topic])
    wait_for(lambda: len(assigned(s)) == 3 and len(assigned(other)) == 3, consumers=[s, other])
    mine = assigned(s)
    events.clear()
    s.close()  # a static member leaves no LeaveGroup behind (KIP-345)
    s = group_consumer(broker.bootstrap, group, **static_conf)
    s.subscribe([topic])
    wait_for(lambda: assigned(s) == mine, consumers=[s, other])
    for _ in range(20):
        other.poll(0.05)
    assert events == [], f"the other member saw a rebalance: {events}"
    s.close()
    other.close()


OLD_STATIC_MEMBER = """
import sys, time
from confluent_kafka import Consumer, KafkaError, KafkaException
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "group.instance.id": "instance-1", "session.timeout.ms": 30000,
              "heartbeat.interval.ms": 300, "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
announced = False
deadline = time.time() + 60
while time.time() < deadline:
    c.poll(0.2)
    if c.assignment() and not announced:
        print("assigned", flush=True)
        announced = True
    if announced:
        # What a client does next: commit. After a fatal error every call fails.
        try:
            c.commit(offsets=c.position(c.assignment()), asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() == KafkaError._FATAL:
                print("fatal", flush=True)
                break
"""


def test_a_static_member_started_twice_fences_the_old_process(broker, topic):
    # The same group.instance.id started again while the old process still runs (a restarted
    # pod whose predecessor is not dead yet): Kafka fences the old one (FENCED_INSTANCE_ID,
    # fatal for the client). The two used to take the membership from each other forever.
    fill(broker.bootstrap, topic, per_partition=1)
    group = "g-" + topic
    old = subprocess.Popen([sys.executable, "-c", OLD_STATIC_MEMBER, broker.bootstrap, group, topic],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    new = None
    try:
        assert old.stdout.readline().strip() == "assigned"
        new = group_consumer(broker.bootstrap, group, **{"group.instance.id": "instance-1",
                                                         "session.timeout.ms": 30000,
                                                         "heartbeat.interval.ms": 300})
        new.subscribe([topic])
        wait_for(lambda: assigned(new) == list(range(6)), consumers=[new])
        # The old process learns it was fenced at its next heartbeat, and stops.
        out, err = old.communicate(timeout=30)
        assert out.splitlines()[-1] == "fatal", f"the old member was not stopped: {out!r} {err!r}"
        # librdkafka's own account of why (FENCED_INSTANCE_ID).
        assert "Static consumer fenced by other consumer with same group.instance.id" in err, err
        # The new one keeps every partition: nobody takes them back.
        for _ in range(40):
            new.poll(0.05)
        assert assigned(new) == list(range(6))
        # ... and reads what is produced next (the old one committed what it had read).
        produce_all(broker.bootstrap, topic, [{"value": b"after", "partition": p} for p in range(6)])
        seen = poll_all([new], lambda r: len(r[0]) == 6)
        assert sorted(p for p, _, _ in seen[0]) == list(range(6))
    finally:
        old.kill()
        old.wait()
        if new is not None:
            new.close()


def test_admin_consumer_group_apis(broker, topic):
    fill(broker.bootstrap, topic, partitions=2, per_partition=10)
    group = "g-" + topic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    c = group_consumer(broker.bootstrap, group, **{"enable.auto.commit": False, "client.id": "admin-test"})
    c.subscribe([topic])
    poll_all([c], lambda r: len(r[0]) >= 20)
    c.commit(asynchronous=False)

    listed = admin.list_consumer_groups().result(10)
    mine = [g for g in listed.valid if g.group_id == group]
    assert len(mine) == 1 and str(mine[0].state).endswith("STABLE")

    desc = admin.describe_consumer_groups([group])[group].result(10)
    assert str(desc.state).endswith("STABLE")
    assert len(desc.members) == 1
    assert desc.members[0].client_id == "admin-test"
    assert sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions) == [0, 1]

    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 10), (1, 10)]

    # A group with members cannot be altered or deleted.
    with pytest.raises(KafkaException):
        admin.delete_consumer_groups([group])[group].result(10)
    c.close()
    wait_for(lambda: any(str(g.state).endswith("EMPTY") for g in admin.list_consumer_groups().result(10).valid
                         if g.group_id == group))

    alter = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 4)])
    admin.alter_consumer_group_offsets([alter])[group].result(10)
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 3), (1, 4)]

    admin.delete_consumer_groups([group])[group].result(10)
    assert group not in [g.group_id for g in admin.list_consumer_groups().result(10).valid]
    with pytest.raises(KafkaException):
        admin.delete_consumer_groups([group])[group].result(10)


def test_kafka_python_group(broker, topic):
    """Each kafka-python consumer polls in its own thread, as applications do (its poll() blocks
    while its group membership settles)."""
    import threading
    from kafka import KafkaConsumer, TopicPartition as KTP
    create_topic(broker.bootstrap, topic, 4)
    group = "g-" + topic
    stop = threading.Event()
    got = [[], []]
    consumers = [KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                               auto_offset_reset="earliest", enable_auto_commit=False,
                               session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500)
                 for _ in range(2)]

    def run(i):
        while not stop.is_set():
            for recs in consumers[i].poll(timeout_ms=100).values():
                got[i].extend((r.partition, r.offset) for r in recs)
        consumers[i].commit()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(len(c.assignment()) == 2 for c in consumers))
        parts = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        assert sorted(parts[0] + parts[1]) == [0, 1, 2, 3], parts
        produce_all(broker.bootstrap, topic, [{"value": b"v", "partition": p} for p in range(4) for _ in range(25)])
        wait_for(lambda: sum(map(len, got)) >= 100)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert sorted(got[0] + got[1]) == [(p, o) for p in range(4) for o in range(25)]
    for i in range(2):
        assert {p for p, _ in got[i]} == set(parts[i])
        for tp in consumers[i].assignment():
            assert consumers[i].committed(tp) == 25
    for c in consumers:
        c.close()
    check = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    assert [check.committed(KTP(topic, p)) for p in range(4)] == [25] * 4
    check.close()


def test_kcat_balanced_consumer(broker, topic):
    fill(broker.bootstrap, topic, partitions=2, per_partition=20)
    group = "g-" + topic
    r = subprocess.run(["kcat", "-b", broker.bootstrap, "-G", group, "-o", "beginning", "-c", "40",
                        "-f", "%p:%o\n", topic], capture_output=True, timeout=60, text=True)
    assert r.returncode == 0, r.stderr
    rows = sorted(tuple(map(int, l.split(":"))) for l in r.stdout.split())
    assert rows == [(p, o) for p in range(2) for o in range(20)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    wait_for(lambda: sorted((tp.partition, tp.offset) for tp in admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(10).topic_partitions) == [(0, 20), (1, 20)])


def test_group_session_timeout_bounds_are_settings(broker_factory, topic):
    # Client test suites commonly run brokers with a 1 s minimum session timeout.
    fast = {"session.timeout.ms": 1000, "heartbeat.interval.ms": 300}
    broker = broker_factory("--group-min-session-timeout-ms", "1000")
    fill(broker.bootstrap, topic, per_partition=1)
    c = group_consumer(broker.bootstrap, "g-" + topic, **fast)
    c.subscribe([topic])
    wait_for(lambda: assigned(c) == list(range(6)), consumers=[c])
    c.close()
    # With Kafka's default minimum (6 s) the same consumer is refused: INVALID_SESSION_TIMEOUT.
    strict = broker_factory()
    create_topic(strict.bootstrap, topic, 1)
    c = group_consumer(strict.bootstrap, "g-" + topic, **fast)
    c.subscribe([topic])
    deadline = time.time() + 20
    error = None
    while error is None and time.time() < deadline:
        try:
            m = c.poll(0.2)
        except KafkaException as e:
            error = e.args[0]
            break
        if m is not None and m.error() is not None:
            error = m.error()
    c.close()
    assert error is not None and error.code() == KafkaError.INVALID_SESSION_TIMEOUT, error


def kip848_consumer(bootstrap, group, **conf):
    """A consumer of the KIP-848 protocol: the broker assigns (no session or heartbeat settings:
    the broker decides them)."""
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        **conf,
    })


def test_kip848_consumers_split_rebalance_and_survive_a_restart(broker_factory, topic):
    """librdkafka with group.protocol=consumer: two members split the partitions, a third takes
    its share, the group (epochs and assignments) survives a broker restart without a rebalance,
    and after a member leaves the other two hold every partition and read what comes next."""
    b = broker_factory()
    fill(b.bootstrap, topic, partitions=6, per_partition=20)
    group = "kip848-" + topic
    members = [kip848_consumer(b.bootstrap, group) for _ in range(2)]
    for c in members:
        c.subscribe([topic])
    wait_for(lambda: sum(len(c.assignment()) for c in members) == 6 and all(c.assignment() for c in members),
             consumers=members)
    together = sorted(p for c in members for p in assigned(c))
    assert together == list(range(6)), together
    members.append(kip848_consumer(b.bootstrap, group))
    members[2].subscribe([topic])
    wait_for(lambda: [len(c.assignment()) for c in members] == [2, 2, 2], consumers=members)
    assert sorted(p for c in members for p in assigned(c)) == list(range(6))

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    before = admin.describe_consumer_groups([group])[group].result(10)
    assert len(before.members) == 3
    b.restart()
    # The members keep their partitions: nobody is fenced by the restart.
    time.sleep(1)
    wait_for(lambda: [len(c.assignment()) for c in members] == [2, 2, 2], consumers=members)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})  # kept until its future resolves
    after = admin.describe_consumer_groups([group])[group].result(10)
    assert sorted(m.member_id for m in after.members) == sorted(m.member_id for m in before.members)

    # One leaves: the other two take its partitions and read what is written next.
    members.pop().close()
    wait_for(lambda: sorted(p for c in members for p in assigned(c)) == list(range(6)),
             consumers=members, timeout=60)
    produce_all(b.bootstrap, topic, [{"value": b"late-%d" % i, "partition": i % 6} for i in range(60)])
    late = lambda r: {v for x in r for _, _, v in x if v.startswith(b"late-")}
    poll_all(members, lambda r: len(late(r)) == 60, timeout=60)
    for c in members:
        c.close()
