"""Malformed frames against the real strikemq binary: each closes its own connection at most, the
process stays up and keeps serving. Regression tests for faults the mutation test found."""

import socket
import struct

from confluent_kafka.admin import AdminClient, NewTopic


def frame(api_key, version, body, client_id=b"hostile"):
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def closed_after(broker, data):
    """Sends `data` and reports whether the broker closed the connection (rather than answering)."""
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
        s.sendall(data)
        try:
            return s.recv(4) == b""
        except ConnectionResetError:
            return True


def test_an_array_count_of_two_billion_does_not_stop_the_broker(broker, topic):
    # CreateTopics v4: a topics array claiming i32::MAX entries, then a few bytes. The decoder
    # reserves room for all of them before reading one; that used to abort the process.
    for count in (0x7FFFFFFF, 0x0FFFFFFF):
        body = struct.pack(">i", count) + b"\x00\x01x" + b"\x00" * 8
        assert closed_after(broker, frame(19, 4, body))
    # Metadata v1 with the same trick in its topics array.
    assert closed_after(broker, frame(3, 1, struct.pack(">i", 0x7FFFFFFF) + b"\x00\x01"))
    # The process is still there and serves the next client.
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, 2, 1)])[topic].result(15)
    assert broker.proc.poll() is None


def test_a_request_for_fifty_thousand_partitions_is_refused(broker, topic):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    fut = a.create_topics([NewTopic(topic, 50_000, 1)])[topic]
    try:
        fut.result(15)
        raise AssertionError("a topic with 50,000 partitions was created")
    except Exception as e:  # KafkaException(POLICY_VIOLATION)
        assert "POLICY_VIOLATION" in str(e), e
    assert topic not in a.list_topics(timeout=10).topics
