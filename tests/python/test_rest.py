"""The REST API with nothing but the standard library, and real Kafka clients on the other side."""

import base64
import http.client
import json
import re
import socket
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import consume, create_topic, produce_all


def read_all(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def call(broker, method, path, body=None, content_type="application/json", raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=30)
    headers = {}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None and content_type:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    ctype = resp.getheader("Content-Type", "")
    parsed = json.loads(payload) if ctype.startswith("application/json") else payload.decode()
    return resp.status, parsed


def error_code(result):
    status, body = result
    return status, body["error"]["code"]


def test_health_broker_and_openapi(broker):
    assert call(broker, "GET", "/health") == (200, "ok")
    status, info = call(broker, "GET", "/v1/broker")
    assert status == 200
    assert info["kafka_port"] == broker.port and info["http_port"] == broker.http_port
    assert info["broker_id"] == 0 and len(info["cluster_id"]) == 22
    assert info["config"]["default_partitions"] == 1
    status, spec = call(broker, "GET", "/openapi.yaml")
    assert status == 200 and spec.startswith("openapi: 3")
    documented = set(re.findall(r"^  (/[^:]*):$", spec, re.M))
    assert documented == {"/health", "/openapi.yaml", "/v1/openapi.yaml", "/v1/broker", "/v1/topics",
                          "/v1/topics/{name}", "/v1/topics/{name}/messages", "/v1/groups", "/v1/groups/{id}"}


def test_topic_lifecycle_and_errors(broker, topic):
    status, created = call(broker, "POST", "/v1/topics", {"name": topic, "partitions": 3, "configs": {"retention.ms": 60000}})
    assert status == 201 and created["partitions"] == 3 and created["configs"] == {"retention.ms": "60000"}
    assert error_code(call(broker, "POST", "/v1/topics", {"name": topic})) == (409, "topic_exists")
    assert error_code(call(broker, "POST", "/v1/topics", {"name": "bad name"})) == (400, "invalid_topic_name")
    assert error_code(call(broker, "POST", "/v1/topics", {"name": "x", "partitions": 0})) == (400, "invalid_partitions")
    assert error_code(call(broker, "POST", "/v1/topics", {"nam": "x"}))[0] == 400
    assert error_code(call(broker, "POST", "/v1/topics", raw=b"{not json")) == (400, "bad_json")
    assert error_code(call(broker, "POST", "/v1/topics", raw=b"name=x", content_type="application/x-www-form-urlencoded")) == (415, "unsupported_media_type")
    assert error_code(call(broker, "PUT", "/v1/topics", {})) == (405, "method_not_allowed")
    assert error_code(call(broker, "GET", "/v1/nothing-here")) == (404, "not_found")

    status, listed = call(broker, "GET", "/v1/topics")
    assert status == 200 and {"name": topic, "partitions": 3, "start_offset": 0, "end_offset": 0} in listed["topics"]
    status, desc = call(broker, "GET", f"/v1/topics/{topic}")
    assert status == 200 and [p["partition"] for p in desc["partitions"]] == [0, 1, 2]
    assert desc["configs"] == {"retention.ms": "60000"}

    assert call(broker, "DELETE", f"/v1/topics/{topic}") == (200, {"deleted": topic, "partitions_removed": 3})
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}")) == (404, "unknown_topic")
    assert error_code(call(broker, "DELETE", f"/v1/topics/{topic}")) == (404, "unknown_topic")


def test_rest_produce_then_kafka_clients_consume(broker, topic):
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.partitioner.default import murmur2
    call(broker, "POST", "/v1/topics", {"name": topic, "partitions": 4})
    binary = bytes(range(256))
    messages = [
        {"key": f"user-{i}", "value": f"text {i} ✓", "headers": [{"key": "n", "value": str(i)}, {"key": "n", "value": "again"}]}
        for i in range(20)
    ]
    messages.append({"key": base64.b64encode(b"\x00k").decode(), "value": base64.b64encode(binary).decode(), "encoding": "base64", "partition": 2})
    messages.append({"value": None, "key": "tombstone", "partition": 1})
    status, res = call(broker, "POST", f"/v1/topics/{topic}/messages", {"messages": messages})
    assert status == 200
    assert sum(r["record_count"] for r in res["results"]) == 22

    got = consume(broker.bootstrap, topic, [0, 1, 2, 3], 22)
    by_key = {m.key(): m for m in got}
    for i in range(20):
        m = by_key[f"user-{i}".encode()]
        assert m.value() == f"text {i} ✓".encode()
        assert m.headers() == [("n", str(i).encode()), ("n", b"again")]
        # Keyed messages land where Kafka's default partitioner (murmur2) puts them.
        assert m.partition() == (murmur2(f"user-{i}".encode()) & 0x7FFFFFFF) % 4
    assert by_key[b"\x00k"].value() == binary and by_key[b"\x00k"].partition() == 2
    assert by_key[b"tombstone"].value() is None

    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=5000)
    tp = KTP(topic, 2)
    kc.assign([tp])
    kc.seek_to_beginning(tp)
    values = [r.value for r in kc]
    kc.close()
    assert binary in values


def test_kafka_clients_produce_then_rest_peeks(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    produce_all(broker.bootstrap, topic, [
        {"value": b"v%d" % i, "key": b"k", "partition": i % 2, "headers": [("h", b"\xff\xfe")]} for i in range(30)
    ], **{"compression.type": "zstd"})
    status, peek = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=1&offset=3&limit=4")
    assert status == 200
    assert [(m["partition"], m["offset"], m["value"]) for m in peek["messages"]] == [(1, o, "v%d" % (2 * o + 1)) for o in range(3, 7)]
    assert peek["next_offsets"] == {"1": 7}
    h = peek["messages"][0]["headers"][0]
    assert h["key"] == "h" and h["encoding"] == "base64" and base64.b64decode(h["value"]) == b"\xff\xfe"
    status, tail = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0&offset=-2")
    assert [m["offset"] for m in tail["messages"]] == [13, 14]
    status, everything = call(broker, "GET", f"/v1/topics/{topic}/messages?limit=1000")
    assert len(everything["messages"]) == 30
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}/messages?limit=1001")) == (400, "bad_parameter")
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}/messages?limit=x")) == (400, "bad_parameter")
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}/messages?partition=9")) == (404, "unknown_partition")
    assert error_code(call(broker, "GET", f"/v1/topics/{topic}/messages?colour=red")) == (400, "bad_parameter")
    assert error_code(call(broker, "POST", f"/v1/topics/{topic}/messages", {"messages": [{"value": "x", "partition": 7}]})) == (400, "unknown_partition")
    assert error_code(call(broker, "POST", f"/v1/topics/{topic}/messages", {"messages": []})) == (400, "bad_request")
    assert error_code(call(broker, "POST", f"/v1/topics/{topic}/messages", {"messages": [{"value": "!", "encoding": "base64"}]})) == (400, "bad_message")

    # A peek with a timeout waits for the next message.
    end = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0&offset=15")[1]
    assert end["messages"] == []
    def later():
        time.sleep(0.3)
        produce_all(broker.bootstrap, topic, [{"value": b"late", "partition": 0}])
    t = threading.Thread(target=later)
    t.start()
    status, waited = call(broker, "GET", f"/v1/topics/{topic}/messages?partition=0&offset=15&timeout_ms=20000")
    t.join()
    assert [m["value"] for m in waited["messages"]] == ["late"]


def test_groups_endpoints(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    produce_all(broker.bootstrap, topic, [{"value": b"x", "partition": p} for p in range(2) for _ in range(10)])
    group = "rest-" + topic
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "client.id": "rest-client"})
    c.subscribe([topic])
    n = 0
    deadline = time.time() + 30
    while n < 20 and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            n += 1
    c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10)], asynchronous=False)
    status, listed = call(broker, "GET", "/v1/groups")
    mine = [g for g in listed["groups"] if g["group_id"] == group][0]
    assert mine["state"] == "Stable" and mine["member_count"] == 1 and mine["protocol"] == "range"
    status, desc = call(broker, "GET", f"/v1/groups/{group}")
    assert status == 200
    assert desc["members"][0]["client_id"] == "rest-client"
    assert desc["members"][0]["assignment"] == {topic: [0, 1]}
    lags = {(o["partition"], o["committed_offset"], o["lag"]) for o in desc["offsets"]}
    assert lags == {(0, 4, 6), (1, 10, 0)}
    assert error_code(call(broker, "DELETE", f"/v1/groups/{group}")) == (409, "group_not_empty")
    c.close()
    deadline = time.time() + 10
    while call(broker, "GET", f"/v1/groups/{group}")[1]["state"] != "Empty" and time.time() < deadline:
        time.sleep(0.05)
    assert call(broker, "DELETE", f"/v1/groups/{group}") == (200, {"deleted": group})
    assert error_code(call(broker, "GET", f"/v1/groups/{group}")) == (404, "unknown_group")
    assert error_code(call(broker, "DELETE", f"/v1/groups/{group}")) == (404, "unknown_group")


def test_http_keep_alive_limits_garbage_and_concurrency(broker):
    conn = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/health")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"ok"
    conn.close()

    # A body over the limit is refused from its Content-Length, before it is sent.
    with socket.create_connection(("127.0.0.1", broker.http_port), timeout=10) as s:
        s.sendall(b"POST /v1/topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n")
        reply = read_all(s).decode()
        assert reply.startswith("HTTP/1.1 413") and "payload_too_large" in reply

    with socket.create_connection(("127.0.0.1", broker.http_port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 400")

    results = []
    def hit():
        results.append(call(broker, "GET", "/v1/broker")[0])
    threads = [threading.Thread(target=hit) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40
    assert call(broker, "GET", "/health") == (200, "ok")


def test_no_http_flag(broker_factory):
    b = broker_factory("--no-http")
    assert b.http_port == 0
