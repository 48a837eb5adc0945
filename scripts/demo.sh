#!/usr/bin/env bash
# The main job on one machine, on the embedded bus (no broker needed): sets up what is missing,
# builds videoagent in release mode and runs it. Until the five stages exist it shows the parts
# that do: a bus round trip (topics from topics/, write, read as a consumer group, replay), then
# a video plan for a built-in task from the shipped plan model, refined twice.
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

model=models/builtin-plan/model.safetensors
if [ -f "$model" ]; then
  echo "== a plan for 'open the drawer' from $model"
  rm -rf "$data/demo-episode" "$data/demo-plan" "$data/demo-refined"
  $bin collect --env builtin --tasks drawer-open --cameras corner --episodes 1 --seed-start 4242 --resolution 32 \
    --out "$data/demo-episode" >/dev/null
  $bin generate --checkpoint "$model" --frame "$data/demo-episode/episodes/drawer-open/corner/seed-4242/frame_000.png" \
    --task "open the drawer" --out "$data/demo-plan"
  $bin refine --checkpoint "$model" --frames "$data/demo-plan" --task "open the drawer" --iterations 2 --out "$data/demo-refined"
  echo "plan strip: $data/demo-plan/strip.png; refinements: $data/demo-refined/strip.png"
fi
