"""Raw protocol, every API at every version StrikeMQ advertises: `strikemq-probe` (a Rust tool in
tests/conformance/probe) sends the same hand-built requests to Apache Kafka 4.4 and to StrikeMQ —
ordinary cases and awkward ones (unknown topics and ids, bad partitions, out-of-range offsets,
corrupt and truncated batches, duplicate and out-of-order sequences, stale generations, unknown
members, invalid names and configs, removed versions) — and each decoded answer must match field by
field, error codes and messages included. Fields that name the broker (node ids, ports, cluster
id, uuids, log directory) are normalised by rawnorm.py; the known deviations below are listed in
docs/COMPATIBILITY.md and applied only where they are declared."""

import difflib
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import settle
from rawnorm import normalise

ROOT = Path(__file__).resolve().parents[2]

APIS = [
    "ApiVersions", "Metadata", "Produce", "Fetch", "ListOffsets", "OffsetCommit", "OffsetFetch",
    "FindCoordinator", "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup", "DescribeGroups",
    "ListGroups", "CreateTopics", "DeleteTopics", "DeleteRecords", "InitProducerId",
    "OffsetForLeaderEpoch", "DescribeConfigs", "AlterConfigs", "IncrementalAlterConfigs",
    "DescribeLogDirs", "CreatePartitions", "DeleteGroups", "OffsetDelete", "DescribeCluster",
    "DescribeProducers", "DescribeTopicPartitions", "AddPartitionsToTxn", "AddOffsetsToTxn",
    "EndTxn", "TxnOffsetCommit", "DescribeTransactions", "ListTransactions",
    "ConsumerGroupHeartbeat", "ConsumerGroupDescribe", "ShareGroupHeartbeat", "ShareGroupDescribe",
    "ShareFetch", "ShareAcknowledge", "DescribeShareGroupOffsets", "AlterShareGroupOffsets",
    "DeleteShareGroupOffsets",
]

FEATURES = re.compile(
    r"    supported_features: \[.*?\n    \],\n    finalized_features_epoch: -?\d+,\n"
    r"    finalized_features: \[.*?\n    \],\n", re.S)
NO_FEATURES = re.compile(
    r"    supported_features: \[\],\n    finalized_features_epoch: -?\d+,\n    finalized_features: \[\],\n")

# (cases they apply to, what differs and why, how both answers are made comparable)
DEVIATIONS = [
    (re.compile(r"^ApiVersions v[34]: "),
     "ApiVersions v3+ lists the feature flags of the protocols StrikeMQ serves, group.version "
     "(1: KIP-848 consumer groups), transaction.version (2) and share.version (1: KIP-932 share "
     "groups at ShareFetch v1; Kafka 4.4 finalizes 2, which adds ShareFetch v2), as Kafka 4.4 "
     "finalizes them: Kafka's metadata.version, kraft.version, streams.version and "
     "eligible.leader.replicas.version version a KRaft metadata log and protocols StrikeMQ does "
     "not have yet.",
     lambda text: NO_FEATURES.sub("    FEATURES\n", FEATURES.sub("    FEATURES\n", text))),
    (re.compile(r"^DescribeShareGroupOffsets v\d+: share offsets: describe (every topic|partitions)"),
     "DescribeShareGroupOffsets: Kafka reports the start offset its share coordinator last "
     "persisted, which trails the share-partition's in-memory state (after records 0-3 are "
     "acknowledged it may still say 2); StrikeMQ reports the current start offset (4).",
     lambda text: re.sub(r"start_offset: \d+,", "start_offset: SPSO,", text)),
    (re.compile(r"^JoinGroup v\d+: classic join of a consumer group"),
     "A classic member (JoinGroup) may not join a KIP-848 consumer group that has members: "
     "StrikeMQ answers INCONSISTENT_GROUP_PROTOCOL, as Kafka does with "
     "group.consumer.migration.policy=disabled; Kafka's default (bidirectional) lets it join.",
     lambda text: "CLASSIC JOIN OF A CONSUMER GROUP\n"),
]


def probe_binary():
    exe = Path(os.environ.get("STRIKEMQ_BIN", ROOT / "target" / "debug" / "strikemq")).with_name("strikemq-probe")
    if not exe.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "strikemq-probe"], cwd=ROOT, check=True)
        exe = ROOT / "target" / "debug" / "strikemq-probe"
    return exe


@pytest.fixture(scope="module")
def answers(kafka, strikemq):
    settle(kafka, strikemq)  # the scenario's records carry timestamps from 2023
    prefix = "raw-" + uuid.uuid4().hex[:8]
    got = {}
    for name, broker in (("kafka", kafka), ("strikemq", strikemq)):
        out = subprocess.run([str(probe_binary()), "--bootstrap", broker.bootstrap, "--prefix", prefix],
                             check=True, capture_output=True, text=True, timeout=600)
        got[name] = json.loads(out.stdout)
    assert [o["case"] for o in got["kafka"]] == [o["case"] for o in got["strikemq"]]
    return got


def comparable(case, text):
    text = normalise(text)
    for applies, _, fix in DEVIATIONS:
        if applies.search(case):
            text = fix(text)
    return text


@pytest.mark.parametrize("api", APIS)
def test_answers_match_kafka(answers, api):
    pairs = [(k, s) for k, s in zip(answers["kafka"], answers["strikemq"])
             if k["case"].split(" v")[0] == api]
    assert pairs, f"the probe sent no {api} request"
    differences = []
    for theirs, ours in pairs:
        a, b = comparable(theirs["case"], theirs["answer"]), comparable(ours["case"], ours["answer"])
        if a != b:
            diff = "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "kafka", "strikemq",
                                                  n=2, lineterm=""))
            differences.append(f"### {theirs['case']}\n{diff}")
    assert not differences, f"{len(differences)} of {len(pairs)} {api} answers differ:\n" + "\n".join(differences)


def test_summary_for_the_compatibility_report(answers):
    """Writes what was compared to $STRIKEMQ_TEST_RESULTS/raw-protocol.json for docs/COMPATIBILITY.md."""
    pairs = list(zip(answers["kafka"], answers["strikemq"]))
    per_api = {api: sum(1 for k, _ in pairs if k["case"].split(" v")[0] == api) for api in APIS}
    assert all(per_api.values())
    versions = {(k["api"], k["version"]) for k, _ in pairs}
    matching = sum(1 for k, s in pairs if comparable(k["case"], k["answer"]) == comparable(s["case"], s["answer"]))
    summary = {
        "requests": len(pairs), "apis": len(per_api), "versions": len(versions),
        "requests_per_api": per_api, "matching": matching,
        "deviations": [reason for _, reason, _ in DEVIATIONS],
    }
    out = os.environ.get("STRIKEMQ_TEST_RESULTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "raw-protocol.json").write_text(json.dumps(summary, indent=2))


def test_deviations_are_needed(answers):
    """A declared deviation that no longer differs must be removed (and from the docs)."""
    for applies, reason, _ in DEVIATIONS:
        pairs = [(k, s) for k, s in zip(answers["kafka"], answers["strikemq"]) if applies.search(k["case"])]
        assert pairs, reason
        assert any(normalise(k["answer"]) != normalise(s["answer"]) for k, s in pairs), \
            f"no longer a deviation: {reason}"
