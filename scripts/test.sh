#!/usr/bin/env bash
# Sets up what is missing (scripts/setup.sh), starts a real Kafka-protocol broker (Tansu) on
# loopback, and runs every test: the embedded bus, librdkafka's mock cluster and the real broker,
# the built-in environments and the MetaWorld bridge (MetaWorld and OSMesa are installed for it),
# then a short fuzzing run of each untrusted-input reader (scripts/fuzz.sh).
# Extra arguments go to `swift test` (e.g. --filter BusTests) and skip the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
VIDEOAGENT_WITH_METAWORLD=1 ./scripts/setup.sh

venv=$PWD/.venv
# Debian's librdkafka 2.0.2 cannot read Tansu's ApiVersions reply; the 2.x build from the
# confluent-kafka wheel is ABI compatible and is used for the tests (README: Kafka versions).
export LD_LIBRARY_PATH="$venv/rdkafka${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
logdir=$(mktemp -d)
"$venv/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >"$logdir/tansu.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
  if ! kill -0 $broker 2>/dev/null; then echo "[test] Tansu exited:" >&2; cat "$logdir/tansu.log" >&2; exit 1; fi
  sleep 0.1
done
echo "[test] Tansu broker on 127.0.0.1:$port (log: $logdir/tansu.log)" >&2
export VIDEOAGENT_TEST_KAFKA="127.0.0.1:$port"

# The import check keeps undeclared dependencies between modules out (docs/architecture.md).
swift build --build-tests --explicit-target-dependency-import-check error
swift test --skip-build "$@"

# A short coverage-guided fuzzing run of every reader of untrusted bytes (scripts/fuzz.sh; longer
# runs by hand). Skipped when the tests were narrowed with arguments.
if [ $# -eq 0 ]; then
  ./scripts/fuzz.sh "${VIDEOAGENT_FUZZ_SECONDS:-15}"
fi
