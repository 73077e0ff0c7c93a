"""kcat (librdkafka's command-line client) against StrikeMQ."""

import subprocess


def kcat(*args, input=None):
    r = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_metadata_lists_the_broker(broker):
    out = kcat("-b", broker.bootstrap, "-L")
    assert f"broker 0 at 127.0.0.1:{broker.port}" in out


def test_produce_and_consume_with_keys_and_headers(broker, topic):
    lines = "".join(f"key{i}:value {i}\n" for i in range(100))
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-H", "source=kcat", input=lines.encode())
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-f", "%o|%k|%s|%h\n")
    rows = [l.split("|") for l in out.strip().split("\n")]
    assert rows == [[str(i), f"key{i}", f"value {i}", "source=kcat"] for i in range(100)]
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "90", "-e", "-f", "%s\n")
    assert out.split() == [w for i in range(90, 100) for w in ("value", str(i))]
    out = kcat("-b", broker.bootstrap, "-L", "-t", topic)
    assert f'topic "{topic}" with 1 partitions' in out
