#!/usr/bin/env bash
# Eval speed: episodes per minute for each variant on the built-in suite (6 tasks × CAMERAS × SEEDS,
# the shipped plan model and follower, DDIM-10, 8 episodes in lockstep). The 450-episode `base` grid
# of the paper's protocol takes 450 / (episodes per minute) minutes. A benchmark, not a test: state
# the CPU with the result. Writes bench/results/eval.json.
# Usage: bench/eval/speed.sh [SEEDS per task and camera, default 2] [CAMERAS, default corner,corner2,corner3]
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-2}
cameras=${2:-corner,corner2,corner3}
bin=${VIDEOAGENT_BIN:-.build/release/videoagent}
[ -x "$bin" ] || swift build -c release --product videoagent >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
rows=()
for variant in oracle base refine replan refine+replan refine+critic select+critic; do
  extra=()
  case "$variant" in *critic*) extra=(--critic models/builtin-critic/model.safetensors) ;; esac
  start=$(date +%s.%N)
  "$bin" eval --variants "$variant" "${extra[@]}" --seeds "$seeds" --seed-start 9000 --cameras "$cameras" --out "$work/$variant" >"$work/$variant.log"
  seconds=$(python3 -c "import time; print(time.time() - $start)")
  episodes=$(wc -l <"$work/$variant/episodes.jsonl")
  rate=$(python3 -c "print(round(60 * $episodes / $seconds, 1))")
  # refine executes every iteration 0…K: count episodes of the grid, not executions.
  grid=$(python3 -c "import json; print(len({(e['task'], e['camera'], e['seed']) for e in map(json.loads, open('$work/$variant/episodes.jsonl'))}))")
  printf '%-14s %5d executions (%d grid episodes) in %6.1f s: %6.1f executions/min\n' "$variant" "$episodes" "$grid" "$seconds" "$rate"
  rows+=("$variant:$episodes:$grid:$seconds")
done
# The OpenBLAS kernels the runs used (eval names them; videoagent picks better ones than a fallback to Prescott).
blas=$(grep -o 'OpenBLAS kernels [A-Za-z0-9]*' "$work/oracle.log" | head -1 | cut -d' ' -f3)
python3 - "$cpu" "$seeds" "$cameras" "${blas:-unknown}" "${rows[@]}" <<'PY' | tee bench/results/eval.json
import json, sys
cpu, seeds, cameras, blas, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
out = {"cpu": cpu, "cores": 2, "openblas_kernels": blas, "grid": f"6 tasks × {cameras} × {seeds} seeds from 9000", "variants": {}}
for row in rows:
    variant, executions, grid, seconds = row.split(":")
    seconds = float(seconds)
    out["variants"][variant] = {"executions": int(executions), "grid_episodes": int(grid), "seconds": round(seconds, 1),
                                "executions_per_minute": round(60 * int(executions) / seconds, 1),
                                "minutes_for_450_grid_episodes": round(450 * seconds / int(grid) / 60, 1)}
print(json.dumps(out, indent=2, ensure_ascii=False))
PY
