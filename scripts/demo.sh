#!/usr/bin/env bash
# The main job on one machine, on the embedded bus (no broker needed): sets up what is missing,
# builds videoagent in release mode and runs it. Until the five stages exist this is a bus round
# trip: create the topics from topics/, write, read as a consumer group, and replay.
# The data directory is ./data (override with VIDEOAGENT_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product videoagent
bin=.build/release/videoagent
data=${VIDEOAGENT_DATA:-$PWD/data}
bus="embedded://$data/bus"
mkdir -p "$data"

echo "== topics on $bus"
$bin topics create --bus "$bus"
$bin topics create --bus "$bus" demo.roundtrip.v1 --partitions 3 >/dev/null
echo "== writing 5 records to demo.roundtrip.v1"
for i in 1 2 3 4 5; do printf 'episode-%d\tstep %d at %s\n' $((i % 2)) "$i" "$(date -u +%H:%M:%S)"; done \
  | $bin bus produce --bus "$bus" --topic demo.roundtrip.v1
echo "== reading them as consumer group demo (partition, offset, key, value)"
$bin bus consume --bus "$bus" --topic demo.roundtrip.v1 --group demo --idle-exit 1
echo "== replaying the whole topic without a group"
$bin bus replay --bus "$bus" --topic demo.roundtrip.v1 --from-offset 0 --idle-exit 1
$bin topics describe --bus "$bus" demo.roundtrip.v1
