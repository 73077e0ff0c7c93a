#!/usr/bin/env bash
# What a crash costs: fills one partition with `--flush interval`, waits for the flusher, kills the
# broker with SIGKILL, then times the first request for the partition (`kcat -Q`) after a restart
# on a cold page cache, on copies of the same crashed data directory:
#
#   with-point     this build, as the crash left the data (recovery starts at the recovery point)
#   without-point  this build with the recovery-point file removed (the whole last segment is
#                  validated)
#   other          OTHER_BROKER (another build) on the same data, when set
#
#   sudo benches/recovery.sh                         # 1 s of produce: 650-900 MB, one segment
#   SECONDS_OF_PRODUCE=2 sudo benches/recovery.sh    # past 1 GiB: a roll, then a second segment
#   OTHER_BROKER=/tmp/strikemq-old sudo benches/recovery.sh
#
# Dropping the page cache needs root. Needs kcat. Uses port 19094 and /tmp/strikemq-recovery*.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p strikemq -p strikemq-bench
BROKER=$PWD/target/release/strikemq
BENCH=$PWD/target/release/strikemq-bench
D=/tmp/strikemq-recovery
PORT=19094
rm -rf "$D" "$D".*
mkdir -p "$D"

"$BROKER" --data-dir "$D" --port $PORT --http-port 0 --flush interval >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$D" "$D".*' EXIT
sleep 0.3
"$BENCH" produce --bootstrap 127.0.0.1:$PORT --topic rec --partitions 1 --connections 1 \
    --seconds "${SECONDS_OF_PRODUCE:-1}" --no-baseline 2>&1 | grep -E '^\s+produce'
sleep 1.5 # the flusher syncs within --flush-interval-ms (1 s) of the last append
kill -9 $pid
{ wait $pid; } 2>/dev/null || true
partition=$(find "$D" -name recovery-point -printf '%h\n' | head -1)
# Segments are pre-sized sparse files: du shows the data written.
echo "last segment: $(du -m "$(ls "$partition"/*.log | tail -1)" | cut -f1) MiB written"
cp -a "$D" "$D.without-point"
rm -f "$D.without-point/${partition#"$D"/}/recovery-point"
variants="with-point without-point"
if [ -n "${OTHER_BROKER:-}" ]; then
    cp -a "$D" "$D.other"
    variants="$variants other"
fi

for v in $variants; do
    dir=$D bin=$BROKER
    [ "$v" = without-point ] && dir=$D.without-point
    [ "$v" = other ] && dir=$D.other bin=$OTHER_BROKER
    sync
    echo 3 >/proc/sys/vm/drop_caches
    "$bin" --data-dir "$dir" --port $PORT --http-port 0 >/dev/null 2>&1 &
    pid=$!
    sleep 0.3
    t0=$(date +%s%N)
    kcat -b 127.0.0.1:$PORT -Q -t rec:0:-1 >/dev/null 2>&1
    t1=$(date +%s%N)
    printf '%-14s first offset query after the crash: %d ms\n' "$v" $(((t1 - t0) / 1000000))
    kill $pid
    wait $pid 2>/dev/null || true
done
