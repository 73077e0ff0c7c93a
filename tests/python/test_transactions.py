"""Transactions with confluent-kafka (librdkafka): commits and aborts as read_committed and
read_uncommitted consumers see them, offsets sent to a transaction, a fenced zombie producer,
the broker aborting a transaction past its timeout, and a broker killed (SIGKILL) with a
transaction open. At the end, kafka-python's and aiokafka's transactional producers."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from helpers import create_topic


def txn_producer(bootstrap, txn_id=None, **conf):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id or "tx-" + uuid.uuid4().hex[:8],
        **conf,
    })
    p.init_transactions(30)
    return p


def read_all(bootstrap, topic, isolation, partitions=(0,), expect=None, timeout=30):
    """Every value of the partitions up to their end as `isolation` sees it (waiting until
    `expect` values arrived, when given)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "reader-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, at_end = [], set()
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
                if len(at_end) == len(partitions) and (expect is None or len(out) >= expect):
                    break
                continue
            raise AssertionError(m.error())
        at_end.discard(m.partition())
        out.append(m.value())
    c.close()
    return out


def test_committed_records_are_read_and_aborted_ones_are_not(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=2)
    p = txn_producer(broker.bootstrap)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=f"c{i}".encode(), partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"a{i}".encode(), partition=i % 2)
    assert p.flush(30) == 0  # written to the log, then aborted
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, value=b"last", partition=0)
    p.commit_transaction(30)

    committed = read_all(broker.bootstrap, topic, "read_committed", (0, 1), expect=11)
    assert sorted(committed) == sorted([f"c{i}".encode() for i in range(10)] + [b"last"])
    everything = read_all(broker.bootstrap, topic, "read_uncommitted", (0, 1), expect=16)
    assert sorted(everything) == sorted(
        [f"c{i}".encode() for i in range(10)] + [f"a{i}".encode() for i in range(5)] + [b"last"])


def test_an_open_transaction_holds_read_committed_consumers_back(broker, topic):
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap)
    p.begin_transaction()
    p.produce(topic, value=b"pending")
    assert p.flush(30) == 0
    # Plain records after the open transaction wait behind it too (the last stable offset).
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce(topic, value=b"after")
    assert plain.flush(30) == 0
    assert read_all(broker.bootstrap, topic, "read_committed", timeout=5) == []
    assert read_all(broker.bootstrap, topic, "read_uncommitted", expect=2) == [b"pending", b"after"]
    p.commit_transaction(30)
    assert read_all(broker.bootstrap, topic, "read_committed", expect=2) == [b"pending", b"after"]


def test_consume_transform_produce_commits_the_offsets_with_the_output(broker, topic):
    source, sink, group = topic + "-in", topic + "-out", "ctp-" + topic
    create_topic(broker.bootstrap, source)
    create_topic(broker.bootstrap, sink)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(6):
        plain.produce(source, value=str(i).encode())
    assert plain.flush(30) == 0

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed"})
    c.subscribe([source])
    p = txn_producer(broker.bootstrap)
    batch = []
    deadline = time.time() + 30
    while len(batch) < 3 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            batch.append(m)
    batch = batch[:3]
    # First attempt aborted: neither its output nor its offsets count.
    for abort in (True, False):
        p.begin_transaction()
        for m in batch:
            p.produce(sink, value=b"x" + m.value())
        p.send_offsets_to_transaction(
            [TopicPartition(source, 0, batch[-1].offset() + 1)], c.consumer_group_metadata(), 30)
        if abort:
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)
    c.close()

    assert read_all(broker.bootstrap, sink, "read_committed", expect=3) == [b"x0", b"x1", b"x2"]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    [tp] = c.committed([TopicPartition(source, 0)], timeout=10)
    c.close()
    assert tp.offset == 3


def test_a_second_producer_with_the_same_id_fences_the_first(broker, topic):
    create_topic(broker.bootstrap, topic)
    txn_id = "zombie-" + topic
    zombie = txn_producer(broker.bootstrap, txn_id)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie")
    assert zombie.flush(30) == 0
    # The new instance aborts the zombie's open transaction and takes over.
    fresh = txn_producer(broker.bootstrap, txn_id)
    fresh.begin_transaction()
    fresh.produce(topic, value=b"fresh")
    fresh.commit_transaction(30)
    with pytest.raises(KafkaException) as raised:
        zombie.commit_transaction(30)
    err = raised.value.args[0]
    assert err.fatal() or err.txn_requires_abort(), err
    assert read_all(broker.bootstrap, topic, "read_committed", expect=1) == [b"fresh"]


def test_the_broker_aborts_a_transaction_past_its_timeout(broker, topic):
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap, **{"transaction.timeout.ms": 1000})
    p.begin_transaction()
    p.produce(topic, value=b"forgotten")
    assert p.flush(30) == 0
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce(topic, value=b"after")
    assert plain.flush(30) == 0
    # No commit: after the timeout the broker writes the abort marker itself, and read_committed
    # readers move on past the aborted record.
    assert read_all(broker.bootstrap, topic, "read_committed", expect=1) == [b"after"]
    with pytest.raises(KafkaException):
        p.commit_transaction(30)


def test_a_transaction_open_when_the_broker_is_killed_is_aborted_after_the_restart(broker_factory, topic):
    b = broker_factory()
    create_topic(b.bootstrap, topic)
    p = txn_producer(b.bootstrap, **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(topic, value=b"committed")
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(topic, value=b"in flight")
    assert p.flush(30) == 0
    del p
    b.kill()
    b.start()
    plain = Producer({"bootstrap.servers": b.bootstrap})
    plain.produce(topic, value=b"after restart")
    assert plain.flush(30) == 0
    assert read_all(b.bootstrap, topic, "read_committed", expect=2) == [b"committed", b"after restart"]
    # A new producer with a fresh id commits as before.
    q = txn_producer(b.bootstrap)
    q.begin_transaction()
    q.produce(topic, value=b"new")
    q.commit_transaction(30)
    assert read_all(b.bootstrap, topic, "read_committed", expect=3)[-1] == b"new"


def test_a_transaction_timeout_above_the_maximum_is_refused(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "txn-long",
                  "transaction.timeout.ms": 900_001})
    with pytest.raises(KafkaException) as raised:
        p.init_transactions(30)
    assert raised.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT, raised.value


def test_kafka_python_transactions(broker, topic):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KafkaTopicPartition
    create_topic(broker.bootstrap, topic)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="kp-" + topic)
    p.init_transactions()
    for value, commit in ((b"c1", True), (b"a1", False), (b"c2", True)):
        p.begin_transaction()
        p.send(topic, value, partition=0).get(30)
        if commit:
            p.commit_transaction()
        else:
            p.abort_transaction()
    p.close()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    c.assign([KafkaTopicPartition(topic, 0)])
    got = [m.value for m in c]
    c.close()
    assert got == [b"c1", b"c2"]


def test_aiokafka_transactions(broker, topic):
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    create_topic(broker.bootstrap, topic)

    async def scenario():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="aio-" + topic)
        await p.start()
        try:
            async with p.transaction():
                await p.send_and_wait(topic, b"c1", partition=0)
            await p.begin_transaction()
            await p.send_and_wait(topic, b"a1", partition=0)
            await p.abort_transaction()
            async with p.transaction():
                await p.send_and_wait(topic, b"c2", partition=0)
        finally:
            await p.stop()
        c = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                             auto_offset_reset="earliest")
        await c.start()
        got = []
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while len(got) < 2 and asyncio.get_running_loop().time() < deadline:
                for msgs in (await c.getmany(timeout_ms=500)).values():
                    got.extend(m.value for m in msgs)
            got.extend(m.value for msgs in (await c.getmany(timeout_ms=1000)).values() for m in msgs)
        finally:
            await c.stop()
        return got

    assert asyncio.run(scenario()) == [b"c1", b"c2"]


def test_rest_shows_the_last_stable_offset_and_marks_transactional_records(broker, topic):
    from test_rest import call, error_code
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap)
    p.begin_transaction()
    p.produce(topic, value=b"committed", partition=0)
    p.commit_transaction(30)                       # 0, marker 1
    p.begin_transaction()
    p.produce(topic, value=b"aborted", partition=0)
    assert p.flush(30) == 0
    p.abort_transaction(30)                        # 2, marker 3
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=0)   # 4, still open
    assert p.flush(30) == 0

    status, described = call(broker, "GET", f"/v1/topics/{topic}")
    assert status == 200
    [part] = described["partitions"]
    assert (part["end_offset"], part["last_stable_offset"]) == (5, 4)

    status, peeked = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0")
    assert status == 200
    assert [(m["value"], m["transaction"]) for m in peeked["messages"]] == [
        ("committed", "committed"), ("aborted", "aborted"), ("open", "open")]
    status, peeked = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0&isolation=read_committed")
    assert [m["value"] for m in peeked["messages"]] == ["committed"]
    assert peeked["next_offsets"] == {"0": 4}
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}/messages?isolation=serializable")) == (400, "bad_parameter")

    p.commit_transaction(30)
    status, peeked = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0&isolation=read_committed")
    assert [(m["value"], m["transaction"]) for m in peeked["messages"]] == [
        ("committed", "committed"), ("open", "committed")]


def test_committed_transactions_survive_sigkill_in_a_commit_and_abort_loop(broker_factory, topic):
    """Transactions commit and abort in a loop while the broker is killed (SIGKILL) at random
    moments and restarted: afterwards every partition's last stable offset reaches its end, every
    transaction the producer saw committed is whole for read_committed readers, none it aborted
    shows, and one cut short by the crash is all or nothing."""
    import json
    import random
    import threading
    import urllib.request

    b = broker_factory()
    create_topic(b.bootstrap, topic, partitions=2)
    txn_id = "crash-" + topic
    rng = random.Random(19)
    intent = {}    # transaction -> "commit" | "abort"
    outcome = {}   # transaction -> True when the producer saw its commit succeed
    records = 4
    for rnd in range(5):
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": txn_id,
                      "transaction.timeout.ms": 3000, "message.timeout.ms": 3000})
        p.init_transactions(30)
        killer = threading.Timer(rng.uniform(0.1, 0.6), b.kill)
        killer.start()
        i = 0
        try:
            while True:
                name = f"r{rnd}-t{i}"
                intent[name] = "abort" if i % 3 == 2 else "commit"
                p.begin_transaction()
                for j in range(records):
                    p.produce(topic, value=f"{name}-{j}".encode(), partition=j % 2)
                if intent[name] == "abort":
                    p.abort_transaction(5)
                else:
                    p.commit_transaction(5)
                    outcome[name] = True
                i += 1
        except KafkaException:
            pass
        killer.join()
        p.purge()
        del p
        b.start()

    def partitions():
        with urllib.request.urlopen(f"http://127.0.0.1:{b.http_port}/v1/topics/{topic}", timeout=10) as r:
            return json.load(r)["partitions"]

    deadline = time.time() + 30
    while time.time() < deadline and any(pt["last_stable_offset"] < pt["end_offset"] for pt in partitions()):
        time.sleep(0.2)
    parts = partitions()
    assert all(pt["last_stable_offset"] == pt["end_offset"] for pt in parts), parts
    total = sum(pt["end_offset"] for pt in parts)
    seen = read_all(b.bootstrap, topic, "read_committed", (0, 1), timeout=60)
    by_txn = {}
    for v in seen:
        name, _, j = v.decode().rpartition("-")
        by_txn.setdefault(name, set()).add(int(j))
    assert sum(1 for n in outcome if outcome[n]) > 5, "the loop committed too little to prove anything"
    for name in outcome:
        assert by_txn.get(name) == set(range(records)), (name, by_txn.get(name))
    for name, want in intent.items():
        if want == "abort":
            assert name not in by_txn, name
        else:
            assert by_txn.get(name, set()) in (set(), set(range(records))), (name, by_txn[name])
    assert total > len(seen)  # markers and aborted records take offsets too
