#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS, default 30 s each) when a nightly
# toolchain is installed; installs cargo-fuzz from crates.io if it is missing. Without nightly it
# says so and does nothing: the stable test suite has its own mutation test of the same path
# (bins/strikemq/src/service.rs). A crash fails the run; its input is in fuzz/artifacts/<target>/,
# to be committed under fuzz/regressions/ with a test.
set -euo pipefail
cd "$(dirname "$0")"
each=${FUZZ_SECONDS:-30}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain on this machine; skipped"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked --quiet || { echo "fuzz: cargo-fuzz did not install; skipped"; exit 0; }
fi
# Seeds: the requests captured from real clients.
for target in request broker; do
  mkdir -p "corpus/$target"
  for f in ../crates/strikemq-codec/tests/golden/*/*.bin; do
    cp "$f" "corpus/$target/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
done
for target in frame request batch broker; do
  echo "fuzz: $target for ${each}s"
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$target" -- -max_total_time="$each" -rss_limit_mb=4096 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target failed; a failing input, if any, is in fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$log" || tail -2 "$log"
  rm -f "$log"
done
echo "fuzz: no failing input"
