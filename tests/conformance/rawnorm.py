"""Normalising raw protocol answers (`{:#?}` of kafka-protocol's response structs) before comparing
them: fields that name the broker rather than describe behaviour are replaced by placeholders."""

import re

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
NIL = "00000000-0000-0000-0000-000000000000"

# (pattern, replacement): each names the broker, not its behaviour.
RULES = [
    (re.compile(r"(throttle_time_ms): \d+"), r"\1: T"),
    (re.compile(r"(cluster_id): Some\(\s*\"[^\"]*\",?\s*\)"), r"\1: CLUSTER"),
    (re.compile(r"(cluster_id): \"[^\"]*\""), r"\1: CLUSTER"),
    (re.compile(r"BrokerId\(\s*(?!-)\d+,?\s*\)"), "BrokerId(NODE)"),
    (re.compile(r"(node_id|controller_id|leader_id|broker_id): (?!-)\d+"), r"\1: NODE"),
    (re.compile(r"(port): \d+"), r"\1: PORT"),
    (re.compile(r"PLAINTEXT://[^:\"]+:\d+"), "PLAINTEXT://HOST:PORT"),
    (re.compile(r"ProducerId\(\s*(?!-)\d+,?\s*\)"), "ProducerId(PID)"),
    (re.compile(r"(producer_id): (?!-)\d+"), r"\1: PID"),
    (re.compile(r'(log_dir): "[^"]*"'), r"\1: LOGDIR"),
    (re.compile(r"(total_bytes|usable_bytes): \d+"), r"\1: BYTES"),
    (re.compile(r"(transaction_start_time_ms): (?!-)\d+"), r"\1: TIME"),
    # Kafka's regular expressions are RE2/J's, StrikeMQ's the regex crate's: each explains a
    # bad pattern in its own words (the error code and the rest of the message are compared).
    (re.compile(r"(is not a valid regular expression: )[^\"]*(?:\\.[^\"]*)*"), r"\1DETAIL"),
    # The window a timestamp must fall in moves with the broker's clock.
    (re.compile(r"should be within \[-?\d+, -?\d+\]"), "should be within [NOW-BEFORE, NOW+AFTER]"),
]


def normalise(text):
    seen = {}

    def uuid(m):
        u = m.group(0)
        if u == NIL:
            return u
        return seen.setdefault(u, f"UUID{len(seen) + 1}")

    text = UUID.sub(uuid, text)
    for pattern, repl in RULES:
        text = pattern.sub(repl, text)
    return text
