"""Client-level differential scenarios: the Apache Kafka Java client (Admin, Producer, Consumer)
and franz-go (kgo, kadm) each run one scenario — topics with configs and their errors, configs
with defaults and synonyms, produce with every acks setting, read back record by record, a
two-member group that rebalances when one leaves, committed offsets, group deletion, delete
records, incremental config changes, partitions added and refused, topic deletion, and
transactions (commits and aborts as read_committed readers see them, the last stable offset, a
consume-transform-produce loop with one aborted round, fencing) — against Apache Kafka 4.4 and
against StrikeMQ. Each prints what the application observed, step by step; both
runs must observe the same."""

import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import kafka_classpath

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def java_scenario():
    out = tempfile.mkdtemp(prefix="java-scenario-")
    cp = kafka_classpath()
    subprocess.run(["javac", "-nowarn", "-d", out, "-cp", cp, str(HERE / "clients" / "JavaScenario.java")],
                   check=True, capture_output=True, timeout=300)
    yield ["java", "-Xmx256m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=off", "-cp", f"{cp}:{out}", "JavaScenario"]
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def franz_scenario():
    out = tempfile.mkdtemp(prefix="franz-scenario-")
    exe = str(Path(out) / "scenario")
    subprocess.run(["go", "build", "-o", exe, "./scenario"], cwd=ROOT / "tests" / "go", check=True, timeout=600)
    yield lambda bootstrap, prefix: [exe, "-bootstrap", bootstrap, "-prefix", prefix]
    shutil.rmtree(out, ignore_errors=True)


def observe(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    return json.loads(res.stdout)


def compare(theirs, ours):
    assert theirs.keys() == ours.keys()
    differ = [f"{step}:\n  kafka:    {json.dumps(theirs[step])}\n  strikemq: {json.dumps(ours[step])}"
              for step in theirs if theirs[step] != ours[step]]
    assert not differ, f"{len(differ)} of {len(theirs)} steps differ:\n" + "\n".join(differ)
    assert len(theirs) >= 25


def test_java_client_observes_the_same(kafka, strikemq, java_scenario):
    prefix = "j-" + uuid.uuid4().hex[:8]
    compare(observe(java_scenario + [kafka.bootstrap, prefix]),
            observe(java_scenario + [strikemq.bootstrap, prefix]))


def test_franz_go_observes_the_same(kafka, strikemq, franz_scenario):
    prefix = "f-" + uuid.uuid4().hex[:8]
    compare(observe(franz_scenario(kafka.bootstrap, prefix)),
            observe(franz_scenario(strikemq.bootstrap, prefix)))
