#!/usr/bin/env bash
# The main job on one machine, on the embedded bus (no broker needed): sets up what is missing,
# builds videoagent in release mode and runs `videoagent demo`: a planner, a critic, a refiner, a
# learner and an executor with two robots, all in one process, running one episode of every
# built-in task with the shipped plan model and plan follower. Writes data/demo/report.md,
# data/demo/strips.png, and keeps the bus in data/demo/bus for `videoagent audit` and replays.
# Extra arguments go to `videoagent demo` (e.g. --robots 4 --episodes 3).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product videoagent
bin=.build/release/videoagent
out=${VIDEOAGENT_DATA:-$PWD/data}/demo
# Two seeds of every task, and a learner that publishes after every two successes, so a new model
# version appears in the run (the stages pick it up while serving).
$bin demo --out "$out" --episodes 2 --learn-every 2 --learn-steps 10 "$@"
first=$(grep -m1 -o 'robot-[0-9]*/ep-[0-9]*' "$out/report.md" || true)
if [ -n "$first" ]; then
  echo "== the decision chain of $first, from the topics"
  $bin audit "$first" --bus "embedded://$out/bus" --out "$out"
fi
