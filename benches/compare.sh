#!/usr/bin/env bash
# StrikeMQ and Apache Kafka 4.4 (single-node KRaft, from Maven Central jars), measured by the same
# load tool in the same run: start-up, idle CPU and RSS, produce latency, produce and consume
# throughput, transactional produce. Reports land in target/bench-results/ as JSON; the tables are
# printed.
#
#   benches/compare.sh                 # everything (about 10 minutes)
#   PARTITIONS=100,1000 benches/compare.sh
#   ONLY=strikemq benches/compare.sh   # skip Kafka
#   PHASES=traffic benches/compare.sh  # skip the idle/start-up phase
#   IO_BACKEND=io-uring ONLY=strikemq benches/compare.sh   # StrikeMQ on its io_uring backend
#   LOAD_MB_S=300 benches/compare.sh   # also the latency probe under 300 MB/s of background load
#
# Placement matters on a small machine: the client runs on CPU 0, brokers and the baseline server
# on CPU 1 (set CLIENT_CPUS/SERVER_CPUS to change it, or empty to let the scheduler decide).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/bench-results
mkdir -p "$OUT"
PARTITIONS=${PARTITIONS:-100,1000,10000}
ONLY=${ONLY:-}
PHASES=${PHASES:-idle,traffic}
IO_BACKEND=${IO_BACKEND:-mio}
LOAD_MB_S=${LOAD_MB_S:-0}
CLIENT_CPUS=${CLIENT_CPUS-0}
SERVER_CPUS=${SERVER_CPUS-1}

cargo build --release -q -p strikemq -p strikemq-bench --features strikemq/io-uring
BROKER=$ROOT/target/release/strikemq

client() {
  local args=()
  [ -n "$SERVER_CPUS" ] && args+=(--baseline-cpus "$SERVER_CPUS")
  if [ -n "$CLIENT_CPUS" ]; then
    taskset -c "$CLIENT_CPUS" "$ROOT/target/release/strikemq-bench" --json "${args[@]}" "$@"
  else
    "$ROOT/target/release/strikemq-bench" --json "${args[@]}" "$@"
  fi
}
server_prefix() { [ -n "$SERVER_CPUS" ] && echo "taskset -c $SERVER_CPUS" || true; }
phase() { [[ ",$PHASES," == *",$1,"* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs the traffic commands against a broker listening on $1; results named after $2.
traffic() {
  local addr=$1 name=$2
  # Each step starts with the page cache written back: dirty pages left by the previous step
  # would otherwise be flushed during this one and slow it down.
  sync
  client latency --bootstrap "$addr" --acks 1 --size 100 --load-mb-s "$LOAD_MB_S" >"$OUT/$name-latency-acks1.json"
  sync
  client latency --bootstrap "$addr" --acks -1 --size 100 --e2e 0 >"$OUT/$name-latency-acksall.json"
  sync
  client produce --bootstrap "$addr" --size 1024 --batch 16 >"$OUT/$name-produce.json"
  sync
  client produce --bootstrap "$addr" --size 1024 --batch 16 --compression lz4 --no-baseline >"$OUT/$name-produce-lz4.json"
  sync
  client consume --bootstrap "$addr" --size 1024 --batch 16 >"$OUT/$name-consume.json"
  sync
  # Transactions of 10 batches of 16 × 1 KiB, committed: what a commit costs.
  client txn --bootstrap "$addr" --size 1024 --batch 16 --batches 10 >"$OUT/$name-txn.json"
}

wait_port() {
  for _ in $(seq 1 1800); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}

run_strikemq() {
  local data port
  data=$(mktemp -d -t strikemq-bench.XXXXXX)
  port=$(free_port)
  local name=strikemq
  [ "$IO_BACKEND" != mio ] && name=strikemq-$IO_BACKEND
  local cmd="$(server_prefix) $BROKER --io-backend $IO_BACKEND --port $port --http-port 0 --data-dir $data/idle"
  if phase idle; then
    echo "== StrikeMQ ($IO_BACKEND): idle, partitions $PARTITIONS, restart"
    client idle --bootstrap "127.0.0.1:$port" --cmd "$cmd" --partitions "$PARTITIONS" >"$OUT/$name-idle.json"
  fi
  phase traffic || { rm -rf "$data"; return 0; }
  echo "== StrikeMQ ($IO_BACKEND): traffic"
  $(server_prefix) "$BROKER" --io-backend "$IO_BACKEND" --port "$port" --http-port 0 --data-dir "$data/traffic" >"$data/log" 2>&1 &
  local pid=$!
  wait_port "$port"
  traffic "127.0.0.1:$port" "$name" || { kill "$pid"; wait "$pid" || true; rm -rf "$data"; return 1; }
  kill "$pid"; wait "$pid" || true
  rm -rf "$data"
}

# A formatted single-node KRaft directory for a broker on port $1 (classpath $2); prints it.
kafka_dir() {
  local port=$1 cp=$2 dir cport id
  dir=$(mktemp -d -t kafka-bench.XXXXXX)
  cport=$(free_port)
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >/dev/null
  echo "$dir"
}

run_kafka() {
  echo "== Apache Kafka 4.4: resolving jars through Maven"
  local cp_file=$ROOT/tests/conformance/target/classpath.txt
  mkdir -p "$(dirname "$cp_file")"
  mvn -q -B -f tests/conformance/pom.xml dependency:build-classpath -Dmdep.outputFile="$cp_file" >/dev/null
  local cp dir port
  cp=$(cat "$cp_file")
  port=$(free_port)
  dir=$(kafka_dir "$port" "$cp")
  local cmd="$(server_prefix) java -Xms1g -Xmx1g -cp $cp kafka.Kafka $dir/server.properties"
  if phase idle; then
    echo "== Apache Kafka: idle, partitions $PARTITIONS, restart"
    client idle --bootstrap "127.0.0.1:$port" --cmd "$cmd" --partitions "$PARTITIONS" >"$OUT/kafka-idle.json" \
      || echo "kafka idle run failed; see above"
  fi
  rm -rf "$dir"
  phase traffic || return 0
  echo "== Apache Kafka: traffic"
  port=$(free_port)
  dir=$(kafka_dir "$port" "$cp")
  $(server_prefix) java -Xms1g -Xmx1g -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/log" 2>&1 &
  local pid=$!
  wait_port "$port"
  traffic "127.0.0.1:$port" kafka || echo "kafka traffic run failed; see above"
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
}

if [ "$ONLY" != kafka ]; then run_strikemq; fi
if [ "$ONLY" != strikemq ]; then run_kafka; fi
echo "results: $OUT"
