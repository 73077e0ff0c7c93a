#!/usr/bin/env python3
"""Captures request frames from real Kafka clients, for the codec's golden tests.

Starts strikemq behind a recording TCP proxy (the broker advertises the proxy's port, so every
client connection goes through it), runs a short produce/consume/admin scenario with each client,
and saves the first request of every (api, version) each client sent as
crates/strikemq-codec/tests/golden/<client>/<api key>-<api name>-v<version>.bin (the frame without
its length prefix). Run it by hand when adding a client or a client version:

    cargo build -p strikemq && tests/.venv/bin/python tests/golden/capture.py

Needs kcat, the Python clients of tests/python/requirements.txt, and Java with the Maven cache that
`mvn -f tests/java/pom.xml test-compile` fills.
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "crates" / "strikemq-codec" / "tests" / "golden"
API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 10: "FindCoordinator",
             18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics", 22: "InitProducerId"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self):
        self.client = None
        self.saved = set()
        self.lock = threading.Lock()

    def frame(self, payload: bytes):
        if len(payload) < 4 or self.client is None:
            return
        key, version = struct.unpack(">hh", payload[:4])
        with self.lock:
            if (self.client, key, version) in self.saved:
                return
            self.saved.add((self.client, key, version))
        d = OUT / self.client
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{key:02d}-{API_NAMES.get(key, 'Api' + str(key))}-v{version}.bin").write_bytes(payload)


def pump(src, dst, recorder=None):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if recorder:
                buf += data
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if len(buf) < 4 + n:
                        break
                    recorder.frame(buf[4:4 + n])
                    buf = buf[4 + n:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listen_port, target_port, recorder):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)

    def serve():
        while True:
            c, _ = srv.accept()
            b = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pump, args=(c, b, recorder), daemon=True).start()
            threading.Thread(target=pump, args=(b, c), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def run_kcat(bootstrap):
    subprocess.run(["kcat", "-b", bootstrap, "-L"], check=True, capture_output=True)
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "golden-kcat", "-K:", "-z", "snappy"],
                   input=b"k1:v1\nk2:v2\n", check=True, capture_output=True)
    subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "golden-kcat", "-e", "-o", "beginning"],
                   check=True, capture_output=True)


def run_confluent(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("golden-ck", num_partitions=2, replication_factor=1)])["golden-ck"].result(10)
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.type": "zstd"})
    for i in range(10):
        p.produce("golden-ck", key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"x")], partition=i % 2)
    p.flush(10)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "golden"})
    c.offsets_for_times([TopicPartition("golden-ck", 0, 0)], timeout=10)
    c.assign([TopicPartition("golden-ck", 0, 0)])
    c.consume(num_messages=5, timeout=2)
    c.close()
    admin.delete_topics(["golden-ck"])["golden-ck"].result(10)


def run_kafka_python(bootstrap):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("golden-kp", num_partitions=1, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(10):
        p.send("golden-kp", key=b"k", value=b"v%d" % i, headers=[("h", b"x")])
    p.flush()
    c = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=2000)
    tp = TopicPartition("golden-kp", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    c.offsets_for_times({tp: 0})
    for _ in c:
        pass
    c.close()
    admin.delete_topics(["golden-kp"])
    admin.close()
    p.close()


def run_java(bootstrap):
    cp = subprocess.run(["mvn", "-q", "-f", str(REPO / "tests" / "java" / "pom.xml"),
                         "dependency:build-classpath", "-Dmdep.outputFile=/dev/stdout",
                         "-Dmdep.includeScope=test"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["java", "-cp", cp, str(Path(__file__).with_name("Capture.java")), bootstrap],
                   check=True, capture_output=True, timeout=120)


def main():
    broker_port, proxy_port = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="strikemq-golden-")
    broker = subprocess.Popen([str(REPO / "target" / "debug" / "strikemq"), "--bind", "127.0.0.1",
                               "--port", str(broker_port), "--http-port", "0", "--advertised-port", str(proxy_port),
                               "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    recorder = Recorder()
    proxy(proxy_port, broker_port, recorder)
    bootstrap = f"127.0.0.1:{proxy_port}"
    try:
        for name, run in [("kcat", run_kcat), ("confluent-kafka-python", run_confluent),
                          ("kafka-python", run_kafka_python), ("java", run_java)]:
            recorder.client = name
            run(bootstrap)
            time.sleep(0.5)
            recorder.client = None
            print(f"{name}: {sum(1 for s in recorder.saved if s[0] == name)} frames")
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    sys.exit(main())
