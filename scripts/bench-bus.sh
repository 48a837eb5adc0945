#!/usr/bin/env bash
# Bus throughput benchmark (not a test): starts a Tansu broker on loopback and compares raw
# librdkafka, the Kafka bus and the embedded bus. Writes bench/results/bus.json.
# Extra arguments go to bench-bus (e.g. --small-messages 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
venv=$PWD/.venv
export LD_LIBRARY_PATH="$venv/rdkafka${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
sleep 1
swift build -c release --product bench-bus
.build/release/bench-bus --broker "127.0.0.1:$port" "$@"
