#!/usr/bin/env bash
# Planner throughput: plans per minute with 1 and with 2 planner processes in one consumer group
# (embedded bus, the shipped plan model, DDIM-10). A benchmark, not a test: the ratio depends on
# the machine's cores (state the CPU with the result). Writes bench/results/planners.json.
# Usage: bench/stages/planners.sh [REQUESTS, default 48]
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=${1:-48}
bin=${VIDEOAGENT_BIN:-.build/release/videoagent}
[ -x "$bin" ] || swift build -c release --product videoagent >&2
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" collect --tasks drawer-open --cameras corner --episodes 1 --seed-start 31337 --resolution 64 --out "$work/frame" >/dev/null
python3 - "$work/frame/episodes/drawer-open/corner/seed-31337/frame_000.png" "$requests" >"$work/requests.tsv" <<'PY'
import base64, hashlib, json, sys
frame = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
for i in range(int(sys.argv[2])):
    episode = f"bench/ep-{i:06d}"
    mid = hashlib.sha256(episode.encode()).hexdigest()[:32]
    request = {"envelope": {"schema_version": 1, "message_id": mid, "episode_id": episode, "parent_id": None, "stage": "executor",
                            "instance": "bench", "model_version": "none", "timestamp_ms": 1},
               "robot_id": "bench", "task": "open the drawer", "camera": "corner", "step": 0, "replan": 0, "frame": frame,
               "proprioception": [0, 0, 0.2, 1]}
    print(episode + "\t" + json.dumps(request))
PY
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
results=()
for n in 1 2; do
  bus="embedded://$work/bus-$n"
  "$bin" topics create --bus "$bus" >/dev/null
  pids=()
  for i in $(seq 1 "$n"); do
    "$bin" serve planner --bus "$bus" --instance "planner-$i" >"$work/planner-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  sleep 4  # model loaded, group joined
  start=$(date +%s.%N)
  "$bin" bus produce --bus "$bus" --topic videoagent.requests.v1 <"$work/requests.tsv" 2>/dev/null
  while true; do
    made=$("$bin" topics describe --bus "$bus" videoagent.plans.v1 --json | python3 -c \
      'import json,sys; d=json.load(sys.stdin); print(sum(p["end_offset"]-p["start_offset"] for t in d for p in t["partitions"]))')
    [ "$made" -ge "$requests" ] && break
    sleep 0.5
  done
  seconds=$(python3 -c "import time; print(time.time() - $start)")
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rate=$(python3 -c "print(round(60 * $requests / $seconds, 1))")
  printf '%d planner process(es): %d plans in %.1f s = %s plans/min\n' "$n" "$requests" "$seconds" "$rate"
  results+=("$rate")
done
python3 - "${results[@]}" "$requests" "$cpu" <<'PY' | tee bench/results/planners.json
import json, sys
one, two, requests, cpu = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(json.dumps({"cpu": cpu, "cores": 2, "requests": requests, "sampler": "DDIM-10, builtin-plan (32 px)",
                  "plans_per_minute": {"1 planner": one, "2 planners": two}, "ratio_2_over_1": round(two / one, 2)}, indent=2))
PY
