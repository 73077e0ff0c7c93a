#!/usr/bin/env bash
# Checks the `strikemq` found on PATH (as `cargo install` puts it there): it starts, says it is
# healthy, and kcat can produce to it and read back.
set -euo pipefail
bin=$(command -v strikemq)
dir=$(mktemp -d)
log="$dir/out"
strikemq --bind 127.0.0.1 --port 0 --http-port 0 --data-dir "$dir/data" >"$log" 2>"$dir/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q '^Ready in' "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*accepting Kafka connections on [^:]*:\([0-9]*\).*/\1/p' "$log")
http=$(sed -n 's/^ *http *[^ ]*:\([0-9]*\) (REST.*/\1/p' "$log")
[ -n "$port" ] && [ -n "$http" ] || { cat "$log" "$dir/err"; exit 1; }
strikemq health --http-port "$http"
printf 'a:1\nb:2\n' | kcat -b "127.0.0.1:$port" -P -t installed -K:
got=$(kcat -b "127.0.0.1:$port" -C -t installed -e -f '%k=%s ')
[ "$got" = "a=1 b=2 " ] || { echo "read back: '$got'"; exit 1; }
kill -TERM "$pid"
wait "$pid"
echo "installed strikemq ($bin, $(strikemq --version)) works"
