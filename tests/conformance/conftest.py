"""A reference Apache Kafka 4.4 (KRaft, single node, from Maven Central jars) and a StrikeMQ, side
by side on free ports, for tests that compare what clients observe on both."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
from broker_process import BrokerProcess  # noqa: E402  (the launcher the client tests use)


RETENTION_CHECK_MS = 3_600_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_classpath():
    out = HERE / "target" / "classpath.txt"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:build-classpath",
                    f"-Dmdep.outputFile={out}"], check=True, timeout=900)
    return out.read_text().strip()


class ReferenceKafka:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kafka-reference-")
        self.port = free_port()
        self.controller_port = free_port()
        self.proc = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        cp = kafka_classpath()
        props = Path(self.dir) / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=0",
            f"controller.quorum.voters=0@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.dir}/data",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # KIP-848 groups: StrikeMQ computes a target assignment at every group epoch, as
            # Kafka does with no minimum interval between two (Kafka's default waits 1 s).
            "group.consumer.assignment.interval.ms=0",
            # Share groups likewise (KIP-932).
            "group.share.assignment.interval.ms=0",
            # Share-partition state lives in __share_group_state: one replica on one node.
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "offsets.topic.num.partitions=1",
            # The scenarios write records with fixed, long-past timestamps: no retention check
            # may delete them halfway through (StrikeMQ is started with the same interval).
            f"log.retention.check.interval.ms={RETENTION_CHECK_MS}",
            "",
        ]))
        cluster_id = subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                       check=True, capture_output=True, timeout=120)
        self.log = open(Path(self.dir) / "kafka.log", "wb")
        self.proc = subprocess.Popen(["java", "-Xmx512m", "-cp", cp, "kafka.Kafka", str(props)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if "Kafka Server started" in (Path(self.dir) / "kafka.log").read_text(errors="replace"):
                self.started = time.time()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.25)
        self.stop()
        raise RuntimeError("the reference Kafka did not start; see " + str(Path(self.dir) / "kafka.log"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def settle(*brokers):
    """Waits until each broker's first retention check (30 s after its start, on Kafka and on
    StrikeMQ) is over, so that records with long-past timestamps written from now on stay until
    the next check, an hour later."""
    wait = max(b.started for b in brokers) + 32 - time.time()
    if wait > 0:
        time.sleep(wait)


@pytest.fixture(scope="session")
def kafka():
    k = ReferenceKafka().start()
    yield k
    k.stop()
    shutil.rmtree(k.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def strikemq():
    d = tempfile.mkdtemp(prefix="strikemq-conformance-")
    b = BrokerProcess(os.path.join(d, "data"), ["--retention-check-interval-ms", str(RETENTION_CHECK_MS)]).start()
    b.started = time.time()
    yield b
    b.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["kafka", "strikemq"])
def any_broker(request, kafka, strikemq):
    return kafka if request.param == "kafka" else strikemq


@pytest.fixture
def topic():
    return "c-" + uuid.uuid4().hex[:12]
