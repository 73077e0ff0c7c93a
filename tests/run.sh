#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then real Kafka clients (librdkafka via kcat,
# confluent-kafka and the rdkafka crate, kafka-python, aiokafka, the Java client 4.4 and 3.9 with
# Kafka Streams, confluent-kafka-go, franz-go, Sarama, segmentio/kafka-go, kafkajs) against the
# strikemq binary, and conformance scenarios against a real Apache Kafka. Installs what it needs:
# kcat and curl from Debian, Python clients into tests/.venv, kafkajs into tests/node, Java, Kafka
# and Go dependencies through Maven and the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG=$(mktemp -t strikemq-tests.XXXXXX)
trap 'rm -f "$LOG"' EXIT
# Per-test results, read by tests/compat/report.py to write docs/COMPATIBILITY.md.
RESULTS="$ROOT/target/test-results"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
export STRIKEMQ_TEST_RESULTS="$RESULTS"

step() { printf '\n=== %s ===\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "client tools"
if ! command -v kcat >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat curl >/dev/null
fi
kcat -V | head -1
kcat -V | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\).*/\1 with librdkafka \2/p' > "$RESULTS/kcat-version.txt"
if [ ! -x tests/.venv/bin/python ]; then
  python3 -m venv tests/.venv
fi
tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
(cd tests/node && npm install --no-audit --no-fund --no-package-lock --silent)

# Many tests write records with fixed timestamps from 2020-2023, older than the default
# retention.ms: no retention check may run while they read them back (tests of retention itself
# pass --retention-check-interval-ms, which wins over this).
export STRIKEMQ_RETENTION_CHECK_INTERVAL_MS=3600000

step "the crates as users get them: examples, cargo package, cargo install"
# Before the build below: verifying the packages and `cargo install` build the strikemq binary
# with default features into target/, and the build then puts back the one with both backends.
cargo run -q -p strikemq-codec --example answer_produce
cargo run -q -p strikemq-storage --example partition_log
# Every publishable crate packages and its package builds on its own (path dependencies carry
# versions; the workspace's packages stand in for crates.io). Cargo unpacks those stand-ins under
# $CARGO_HOME/registry/src and reuses an unpacked copy of the same name and version without
# looking at its contents, so a copy left by an earlier run would hide this run's changes to a
# crate's API: remove them first.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/strikemq-* \
  "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/strikemq-*
cargo package -q --workspace --exclude strikemq-probe --allow-dirty
install_dir=$(mktemp -d)
cargo install -q --debug --locked --path bins/strikemq --root "$install_dir"
PATH="$install_dir/bin:$PATH" bash tests/installed.sh
rm -rf "$install_dir"

step "build"
# One binary with both I/O backends: mio by default, io_uring with --io-backend io-uring.
cargo build --workspace --all-targets --features strikemq/io-uring
export STRIKEMQ_BIN="$ROOT/target/debug/strikemq"

step "rust: unit, property and wire tests (reactor tests on mio and io_uring)"
cargo test --workspace --features strikemq/io-uring 2>&1 | tee -a "$LOG"

step "python: confluent-kafka, kafka-python, kcat"
tests/.venv/bin/python -m pytest tests/python -q -p no:cacheprovider --junitxml="$RESULTS/python.xml" 2>&1 | tee -a "$LOG"

step "conformance: the same scenarios on Apache Kafka 4.4 (from Maven Central) and StrikeMQ"
tests/.venv/bin/python -m pytest tests/conformance -q -p no:cacheprovider --junitxml="$RESULTS/conformance.xml" 2>&1 | tee -a "$LOG"

step "java: org.apache.kafka:kafka-clients and kafka-streams 4.4"
(cd tests/java && mvn -B -q test)
cat tests/java/target/surefire-reports/*.txt | tee -a "$LOG"
cp -r tests/java/target/surefire-reports "$RESULTS/java-4.4"

step "java: org.apache.kafka:kafka-clients and kafka-streams 3.9"
(cd tests/java && mvn -B -q test -Dkafka.version=3.9.1)
cat tests/java/target/surefire-reports/*.txt | tee -a "$LOG"
cp -r tests/java/target/surefire-reports "$RESULTS/java-3.9"

step "go: confluent-kafka-go, franz-go, Sarama, segmentio/kafka-go"
(cd tests/go && go test -count=1 -v ./... 2>&1) | tee "$RESULTS/go.txt" | grep -E '^(=== RUN|--- |ok|FAIL|PASS)' | tee -a "$LOG"

step "node: kafkajs"
(cd tests/node && node --test 2>&1) | tee "$RESULTS/node.tap" | tee -a "$LOG"

step "rust: rdkafka crate"
(cd tests/rust-rdkafka && cargo test 2>&1) | tee "$RESULTS/rdkafka.txt" | tee -a "$LOG"

step "io_uring backend: the Python, conformance (raw protocol and client scenarios against Kafka), Go, Node, Java (4.4 and 3.9, Streams) and rdkafka suites again"
uring_dir=$(mktemp -d)
# A broker started for 3 s says whether io_uring works here (the kernel or a container may refuse it).
timeout 3 "$STRIKEMQ_BIN" --io-backend io-uring --port 0 --no-http --data-dir "$uring_dir/data" >"$uring_dir/log" 2>&1 || true
if grep -q "^Ready in" "$uring_dir/log"; then
  export STRIKEMQ_IO_BACKEND=io-uring
  mkdir -p "$RESULTS/io-uring"
  STRIKEMQ_TEST_RESULTS="$RESULTS/io-uring" tests/.venv/bin/python -m pytest tests/python -q -p no:cacheprovider --junitxml="$RESULTS/python-io-uring.xml" 2>&1 | tee -a "$LOG"
  STRIKEMQ_TEST_RESULTS="$RESULTS/io-uring" tests/.venv/bin/python -m pytest tests/conformance -q -p no:cacheprovider 2>&1 | tee -a "$LOG"
  (cd tests/go && go test -count=1 -v ./... 2>&1) | tee "$RESULTS/go-io-uring.txt" | grep -E '^(=== RUN|--- |ok|FAIL|PASS)' | tee -a "$LOG"
  (cd tests/node && node --test 2>&1) | tee "$RESULTS/node-io-uring.tap" | tee -a "$LOG"
  (cd tests/java && mvn -B -q test)
  cat tests/java/target/surefire-reports/*.txt | tee -a "$LOG"
  cp -r tests/java/target/surefire-reports "$RESULTS/java-4.4-io-uring"
  (cd tests/java && mvn -B -q test -Dkafka.version=3.9.1)
  cat tests/java/target/surefire-reports/*.txt | tee -a "$LOG"
  cp -r tests/java/target/surefire-reports "$RESULTS/java-3.9-io-uring"
  (cd tests/rust-rdkafka && cargo test 2>&1) | tee "$RESULTS/rdkafka-io-uring.txt" | tee -a "$LOG"
  unset STRIKEMQ_IO_BACKEND
elif grep -q "built without it" "$uring_dir/log"; then
  echo "the test binary lacks the io-uring feature: something rebuilt it after the build step"
  exit 1
else
  echo "io_uring is not available on this machine (kernel.io_uring_disabled or seccomp): skipped"
  tail -3 "$uring_dir/log"
fi
rm -rf "$uring_dir"

step "compatibility matrix"
tests/.venv/bin/python tests/compat/report.py "$RESULTS" docs/COMPATIBILITY.md --strict

step "summary"
passed=0
failed=0
add() { passed=$((passed + ${1:-0})); failed=$((failed + ${2:-0})); }
while read -r p f; do add "$p" "$f"; done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$LOG")
while read -r p f; do add "$p" "$f"; done < <(awk '!/^test result/ && / in [0-9.]+s/ && (/ passed/ || / failed/) {
  p = 0; f = 0
  for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p = $(i-1); if ($i ~ /^failed/) f = $(i-1) }
  print p, f }' "$LOG")
while read -r r f e; do add $((r - f - e)) $((f + e)); done < <(sed -n 's/^Tests run: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$LOG")
add "$(grep -c '^--- PASS' "$LOG" || true)" "$(grep -c '^--- FAIL' "$LOG" || true)"
read -r p f < <(awk '/^# pass [0-9]+$/ {p += $3} /^# fail [0-9]+$/ {f += $3} END {print p + 0, f + 0}' "$LOG")
add "$p" "$f"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
